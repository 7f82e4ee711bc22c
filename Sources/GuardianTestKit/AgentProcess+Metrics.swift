import Foundation

/// The one metrics scraper of the suite: an agent's `/metrics` read as Prometheus text.
extension AgentProcess {
    /// A metric's value summed over the series whose labels contain `labels`; nil when no such
    /// series is exposed. Callers that expect a value `#require` it: a missing series (a misspelt
    /// name, a counter the agent does not register) must not read as 0.
    public func metric(_ name: String, labels: String = "") async throws -> Double? {
        let reply = try await request("GET", "/metrics", token: "")
        guard reply.status == 200 else { throw FixtureError(message: "GET /metrics answered \(reply.status): \(reply.text.prefix(200))") }
        return Self.metric(name, labels: labels, in: reply.text)
    }

    /// The value of a series that must be exposed: throws when it is not.
    public func requireMetric(_ name: String, labels: String = "") async throws -> Double {
        guard let v = try await metric(name, labels: labels) else {
            throw FixtureError(message: "the agent in \(dataDir) exposes no series \(name)\(labels.isEmpty ? "" : "{\(labels)}")")
        }
        return v
    }

    public static func metric(_ name: String, labels: String = "", in text: String) -> Double? {
        var total: Double?
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let key = line.split(separator: " ").first.map(String.init) ?? ""
            guard key == name || key.hasPrefix(name + "{"), labels.isEmpty || key.contains(labels),
                  let v = Double(line.split(separator: " ").last ?? "") else { continue }
            total = (total ?? 0) + v
        }
        return total
    }
}
