import Foundation
import GuardianCore
import GuardianMesh
import GuardianStore

/// A channel's digest (docs/alerts.md): every event held for it in one period, grouped by project,
/// and for a weekly digest each of the team's projects with its score trend. Pure: the sender
/// gathers the held events and the summaries.
public enum AlertDigest {
    /// The ring key of a channel: its owners gather its held events and send its digests.
    public static func ringKey(channel: String) -> String { "channel:\(channel)" }

    /// The digest's message. `held`: the events' payloads; `projects`: the team's projects by id
    /// (name, and the summary that carries the trend) for a weekly digest.
    public static func payload(channel: AlertChannel, period: DigestPeriod, start: Millis, held: [AlertPayload],
                               projects: [(id: String, name: String, summary: ProjectSummary?)], link: String?) -> AlertPayload {
        var byProject: [String: (name: String, events: [AlertEvent])] = [:]
        for p in held {
            for e in p.events {
                var e = e
                e.summary = "\(p.context.projectName): \(e.summary)"
                byProject[p.context.projectId, default: (p.context.projectName, [])].events.append(e)
            }
        }
        var events = byProject.sorted { ($0.value.name, $0.key) < ($1.value.name, $1.key) }.flatMap(\.value.events)
        if period == .weekly {
            for p in projects.sorted(by: { ($0.name, $0.id) < ($1.name, $1.id) }) {
                guard let s = p.summary else { continue }
                let trend = s.trend.count > 1
                    ? " (\(s.trend.first!) → \(s.trend.last!) over the last \(s.trend.count) audits, \(signed(s.trend.last! - s.trend.first!)))" : ""
                events.append(AlertEvent(kind: .trend, project: p.id, summary: "\(p.name): health \(s.health), gate \(s.gatePassed ? "passed" : "failed")\(trend)"))
            }
        }
        var context = AlertContext(projectId: "", projectName: "\(period.rawValue) digest of team \(channel.team)", team: channel.team,
                                   resultId: nil, commit: nil, health: nil, link: link)
        context.digest = .init(period: period.rawValue, start: Double(start) / 1000, end: Double(start + period.length) / 1000,
                               projects: Set(events.map(\.project)).count)
        return AlertPayload(context: context, events: events)
    }

    static func signed(_ n: Int) -> String { n > 0 ? "+\(n)" : "\(n)" }
}
