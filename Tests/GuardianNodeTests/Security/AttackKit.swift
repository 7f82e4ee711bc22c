import Foundation
import GuardianCrypto
import GuardianMesh
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Testing

/// What an attacker with some access does from outside, as the adversarial suite needs it: speak
/// the mesh's stream protocol with a copy of the cluster key, hand-craft bundles, read event streams,
/// and read metrics strictly (a metric that is missing is an error, never zero).
enum AttackKit {
    static func wall() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// A stream frame as a member writes it: length, kind, the message sealed with the cluster key.
    static func frame(_ kind: UInt8, _ message: [UInt8], key: String) throws -> [UInt8] {
        let keyring = try ClusterKeyring(primary: key)
        let context = try #require(StreamFrames.context(ofKind: kind))
        let body = [kind] + ClusterSeal.seal(message, keyring: keyring, context: context, now: wall())
        return withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init) + body
    }

    static let hello = Array("guardian-stream-v2".utf8)

    /// Opens a stream to an agent's gossip port as a member holding `key`: hello both ways.
    static func memberStream(_ agent: AgentProcess, key: String) throws -> RawTCP {
        let address = try #require(agent.gossipAddress)
        let port = try #require(Int(address.split(separator: ":").last ?? ""))
        let conn = try RawTCP(port: port)
        #expect(conn.send(try frame(5, hello, key: key)))
        let answer = try #require(conn.receive(seconds: 5) { $0.count >= 4 && $0.count >= 4 + Int(be32($0)) }, "no hello back")
        _ = try opened(answer, key: key, kind: 5)
        return conn
    }

    static func be32(_ b: [UInt8]) -> UInt32 { b.prefix(4).reduce(0) { $0 << 8 | UInt32($1) } }

    /// The message of one whole frame received as a member.
    static func opened(_ bytes: [UInt8], key: String, kind: UInt8) throws -> [UInt8] {
        let frames = try StreamFrames.split(bytes, limit: 16 << 20)
        let f = try #require(frames.first, "no whole frame in \(bytes.count) bytes")
        #expect(f.first == kind)
        var replay = ReplayWindow()
        return try ClusterSeal.open(Array(f.dropFirst()), keyring: try ClusterKeyring(primary: key),
                                    context: try #require(StreamFrames.context(ofKind: kind)), replay: &replay, now: wall())
    }

    /// Sends registry records over a member stream and returns the agent's acknowledgement.
    static func pushRegistry(_ agent: AgentProcess, key: String, _ records: [RegistryRecord]) throws -> (applied: Int, refused: Int) {
        let conn = try memberStream(agent, key: key)
        #expect(conn.send(try frame(2, RegistrySync.records(records).encode(), key: key)))
        let answer = try #require(conn.receive(seconds: 10) { $0.count >= 4 && $0.count >= 4 + Int(be32($0)) }, "no answer")
        guard case .ack(let applied, let refused) = try RegistrySync.decode(try opened(answer, key: key, kind: 2)) else {
            Issue.record("not an ack")
            return (-1, -1)
        }
        return (applied, refused)
    }

    /// A project registry record as a peer would send it.
    static func projectRecord(_ id: String, url: String, team: String = "default", tombstone: Bool = false) -> RegistryRecord {
        let value = #"{"createdAt":1,"id":"\#(id)","name":"x","profile":"default","repositoryUrl":"\#(url)","scheduleSeconds":0,"team":"\#(team)","updatedAt":1}"#
        return RegistryRecord(kind: .project, id: id, stamp: HLC(wall: wall(), logical: 0, node: "intruder"), value: tombstone ? nil : Array(value.utf8))
    }

    /// A bundle written by hand, signed by `exporter`: header, registry records, result frames, trailer.
    static func bundle(exporter: SigningKey, registry: [RegistryRecord] = [], results: [ResultSync.Record] = [],
                       signers: [VerifyingKey] = []) throws -> [UInt8] {
        func signer(_ k: VerifyingKey) -> [String: String] { ["id": k.nodeID.value, "publicKey": k.base64] }
        let header: [String: Any] = ["version": 2, "exporter": signer(exporter.verifyingKey), "exporterName": "outsider", "createdAt": 1,
                                     "registry": registry.count, "results": results.count, "signers": signers.map(signer),
                                     "unknownSigners": [String]()]
        var b = AirGapBundle.magic
        b += AirGapBundle.frame(.header, AirGapBundle.signed([UInt8](try JSONSerialization.data(withJSONObject: header)), by: exporter))
        for r in registry { b += AirGapBundle.frame(.registry, AirGapBundle.signed(RegistrySync.records([r]).encode(), by: exporter)) }
        for r in results { b += AirGapBundle.resultFrame(r) }
        let trailer = #"{"registry":\#(registry.count),"results":\#(results.count)}"#
        b += AirGapBundle.frame(.trailer, AirGapBundle.signed(Array(trailer.utf8), by: exporter))
        return b
    }

    /// Imports a bundle into a running agent over HTTP (admin), naming `trust`.
    static func importBundle(_ agent: AgentProcess, _ bytes: [UInt8], trust: [String]) async throws -> [String: Any] {
        let query = trust.map { "trust=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" }.joined(separator: "&")
        let r = try await agent.request("POST", "/v1/import" + (query.isEmpty ? "" : "?" + query), body: Data(bytes))
        #expect(r.status == 200 || r.status == 422, "\(r.status) \(r.text)")
        return r.json
    }

    /// A metric's value summed over the series whose labels contain `labels`; nil when no such
    /// series is exposed (a counter that never moved is absent: callers assert on that).
    static func metric(_ a: AgentProcess, _ name: String, labels: String = "") async throws -> Double? {
        try await a.metric(name, labels: labels)
    }

    /// An event stream read over a raw connection: the bytes it delivered until `until` held or
    /// `seconds` passed.
    /// `status` is nil when no status line arrived (no answer is not an answer).
    static func events(_ a: AgentProcess, token: String, lastEventID: Int? = nil, seconds: Double, until: @escaping (String) -> Bool) throws -> (status: Int?, text: String) {
        let conn = try RawTCP(port: a.port)
        var head = "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
        if let lastEventID { head += "Last-Event-ID: \(lastEventID)\r\n" }
        #expect(conn.send(Array((head + "\r\n").utf8)))
        let bytes = conn.receive(seconds: seconds) { until(String(decoding: $0, as: UTF8.self)) } ?? []
        let text = String(decoding: bytes, as: UTF8.self)
        let status = text.hasPrefix("HTTP/") ? Int(text.split(separator: " ").dropFirst().first ?? "") : nil
        return (status, text)
    }

    /// An event stream that is open: the agent has written its preamble, so the subscription
    /// exists and every event published from now on is either delivered or withheld by policy.
    static func openEvents(_ a: AgentProcess, token: String) throws -> RawTCP {
        let conn = try RawTCP(port: a.port)
        #expect(conn.send(Array("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8)))
        let preamble = conn.receive(seconds: 10) { String(decoding: $0, as: UTF8.self).contains(": guardian events") } ?? []
        guard String(decoding: preamble, as: UTF8.self).contains(": guardian events") else {
            throw FixtureError(message: "the event stream did not open: \(String(decoding: preamble, as: UTF8.self).prefix(200))")
        }
        return conn
    }

    /// Reads an open stream on a thread of its own (the read blocks) until `until` holds or `seconds` pass.
    static func read(_ conn: RawTCP, seconds: Double, until: @escaping @Sendable (String) -> Bool) async -> String {
        await withCheckedContinuation { c in
            DispatchQueue.global().async {
                let bytes = conn.receive(seconds: seconds) { until(String(decoding: $0, as: UTF8.self)) } ?? []
                c.resume(returning: String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    /// Polls `condition` until it holds; throws when `seconds` pass first.
    static func eventually(_ what: String, seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
        try await GuardianTestKit.eventually(what, timeout: seconds, condition)
    }

    /// Three agents in one mesh, all alive, each project on one owner (so that the others forward).
    static func threeAgents(key: String, env: [String: String] = [:]) async throws -> [String: AgentProcess] {
        var e = ["GUARDIAN_DISCOVERY": "off", "GUARDIAN_REPLICATION_FACTOR": "1"]
        for (k, v) in env { e[k] = v }
        let a = try await MeshIntegrationTests.start("alpha", key: key, env: e)
        let seed = try #require(a.gossipAddress)
        let b = try await MeshIntegrationTests.start("bravo", key: key, join: seed, env: e)
        let c = try await MeshIntegrationTests.start("charlie", key: key, join: seed, env: e)
        try await MeshIntegrationTests.eventually("three alive", [a, b, c]) { s in s.count == 3 && s.values.allSatisfy { $0 == "alive" } }
        return ["alpha": a, "bravo": b, "charlie": c]
    }

    /// The owner of `project` among `agents`, and the others (sorted by name).
    static func owner(of project: String, in agents: [String: AgentProcess]) async throws -> (owner: AgentProcess, name: String, others: [AgentProcess]) {
        let any = try #require(agents["alpha"])
        let name = try #require(try await any.request("GET", "/v1/projects/\(project)/owners").json["primary"] as? String)
        return (try #require(agents[name]), name, agents.filter { $0.key != name }.sorted { $0.key < $1.key }.map(\.value))
    }

    /// A token of `role` for `team`, made by the admin.
    static func token(_ a: AgentProcess, role: String, team: String?) async throws -> (secret: String, id: String) {
        var body: [String: Any] = ["role": role]
        if let team { body["team"] = team }
        let r = try await a.json("POST", "/v1/tokens", body)
        #expect(r.status == 201, "\(r.text)")
        return (try #require(r.json["token"] as? String), try #require(r.json["id"] as? String))
    }
}
