import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import GuardianStore

/// What an outbox row's message says: the project, the result, and the events for that channel.
public struct AlertPayload: Codable, Sendable, Equatable {
    public var context: AlertContext
    public var events: [AlertEvent]
    public init(context: AlertContext, events: [AlertEvent]) { self.context = context; self.events = events }

    public static func decode(_ s: String?) -> AlertPayload? { s.flatMap { try? JSONDecoder().decode(AlertPayload.self, from: Data($0.utf8)) } }
    public var encoded: String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        // strings, numbers and enums: always encodes
        return (try? String(decoding: e.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// Turns a stored result into outbox rows (docs/alerts.md): the events against the project's
/// previous result, one message per channel of the project's team that subscribes to some of them.
/// Every owner plans the same rows with the same ids from the same result; only the newest result
/// of a project raises anything, and only while it is recent (an import of old results, or an owner
/// that receives a project's history by rebalancing, raises nothing).
public struct AlertPlanner: Sendable {
    public let registry: ReplicatedRegistry
    public var healthDrop: Int
    /// `public_url`: the dashboard's address as users reach it (links in messages).
    public var publicURL: String?
    /// Results older than this raise nothing.
    public var maxAge: Double = 86_400

    public init(registry: ReplicatedRegistry, healthDrop: Int = 10, publicURL: String? = nil) {
        self.registry = registry; self.healthDrop = healthDrop; self.publicURL = publicURL
    }

    var store: Store { registry.store }

    /// A dashboard page under `public_url` (`projects/ID`, `teams/ID`, `mesh`), or nil without one.
    public func link(_ page: String) -> String? { address("/ui/\(page)") }

    /// A path (`/v1/hooks/github/ID`) under `public_url`, or nil without one.
    public func address(_ path: String) -> String? {
        guard let base = publicURL?.trimmingCharacters(in: CharacterSet(charactersIn: "/")), !base.isEmpty else { return nil }
        return base + path
    }

    public func link(project: String) -> String? { link("projects/\(project)") }

    /// The channels that receive the events of `team`'s projects: its own, and every mesh-wide one.
    func channels(team: String) -> [AlertChannel] {
        ((try? registry.channels()) ?? []).filter { $0.team == team || $0.isMeshWide }
    }

    /// A channel's frequency: its own, else its team profile's `notification_frequency`.
    public func frequency(_ c: AlertChannel) -> AlertChannel.Frequency {
        if let f = c.frequency.flatMap(AlertChannel.Frequency.init(rawValue:)) { return f }
        let team = (try? store.teamProfile(c.team))?.flatMap { $0 }
        return team.flatMap { AlertChannel.Frequency(rawValue: $0.notificationFrequency) } ?? .immediate
    }

    /// The rows a result raises, before it is stored (they are written in its transaction).
    public func rows(project: ProjectRecord, result: ResultRecord, summary: StatementSummary, now: Double) -> [AlertOutboxRow] {
        // recent, and not from a clock far ahead (its time becomes a millisecond count below)
        guard result.createdAt.isFinite, now - result.createdAt <= maxAge, result.createdAt - now <= 300 else { return [] }
        let channels = channels(team: project.team)
        guard !channels.isEmpty else { return [] }
        // the newest stored result other than this one is the previous; a newer one means this result is late
        guard let latest = try? store.results(project: project.id, limit: 2, before: nil) else { return [] }
        let previous = latest.first { $0.id != result.id }
        if let previous, previous.createdAt > result.createdAt { return [] }
        var before = previous.flatMap(Self.summary).map(AlertSnapshot.init)
        if previous != nil && before == nil { return [] } // a previous result this node cannot read: no basis for a change
        var events: [AlertEvent]
        if before == nil, let s = try? store.summary(project: project.id), s.resultId != result.id, s.createdAt < result.createdAt {
            // a new owner without the project's history: the fleet's summary of the latest result says
            // what the gate, checks and health were; which findings are new it cannot say, so none are reported
            var checks: [Check: CheckStatus] = [:]
            for (name, c) in s.checks { if let k = Check(rawValue: name), let st = CheckStatus(rawValue: c.status) { checks[k] = st } }
            before = AlertSnapshot(health: s.health, gatePassed: s.gatePassed, checks: checks, findings: [])
            events = AlertRules.events(project: project.id, previous: before, current: AlertSnapshot(summary), healthDrop: healthDrop)
                .filter { $0.kind != .findingNew }
        } else {
            events = AlertRules.events(project: project.id, previous: before, current: AlertSnapshot(summary), healthDrop: healthDrop)
        }
        let context = AlertContext(projectId: project.id, projectName: project.name, team: project.team, resultId: result.id,
                                   commit: result.commitId, health: result.health, link: link(project: project.id))
        return Self.rows(events: events, context: context, channels: channels, frequency: frequency, key: result.id,
                         createdAt: Int64((result.createdAt * 1000).rounded(.down)), now: Int64((now * 1000).rounded(.down)))
    }

    /// `audit.error` for a project whose audit failed: one message per channel for as long as the
    /// project's latest result stays the same (a failing schedule does not page every hour).
    public func errorRows(project: ProjectRecord, error: String, now: Double) -> [AlertOutboxRow] {
        let channels = channels(team: project.team)
        guard !channels.isEmpty else { return [] }
        let latest = try? store.results(project: project.id, limit: 1, before: nil).first
        let event = AlertEvent(kind: .auditError, project: project.id, summary: "the audit failed: \(error)", severity: .high)
        let context = AlertContext(projectId: project.id, projectName: project.name, team: project.team, resultId: latest?.id,
                                   commit: latest?.commitId, health: latest?.health, link: link(project: project.id))
        let ms = Int64((now * 1000).rounded(.down))
        return Self.rows(events: [event], context: context, channels: channels, frequency: frequency,
                         key: "audit.error:\(project.id):\(latest?.id ?? "none")", createdAt: ms, now: ms)
    }

    /// One row per channel that receives at least one of `events`: a message to send now, or, for
    /// a channel with an hourly, daily or weekly frequency, an event held for the digest of the
    /// period it happened in (due at the period's end).
    static func rows(events: [AlertEvent], context: AlertContext, channels: [AlertChannel], frequency: (AlertChannel) -> AlertChannel.Frequency,
                     key: String, createdAt: Int64, now: Int64) -> [AlertOutboxRow] {
        guard !events.isEmpty else { return [] }
        return channels.compactMap { c in
            let f = frequency(c)
            let mine = events.filter { e in
                guard c.events.contains(e.kind.rawValue) else { return false }
                return e.kind != .findingNew || (e.severity ?? .info) >= c.severity
            }
            guard !mine.isEmpty else { return nil }
            var row = AlertOutboxRow(id: OutboxEntry.deliveryID(result: key, eventKey: "events", channel: c.id), projectId: context.projectId,
                                     channel: c.id, resultId: context.resultId, payload: AlertPayload(context: context, events: mine).encoded,
                                     createdAt: createdAt, updatedAt: now)
            if let period = DigestPeriod(rawValue: f.rawValue) { row.hold(for: period) }
            return row
        }
    }

    /// A stored result's statement, read without checking its signature again (it was checked
    /// before it was stored).
    static func summary(_ r: ResultRecord) -> StatementSummary? {
        guard let env = try? JSONDecoder().decode(DSSEEnvelope.self, from: r.envelope), let payload = Data(base64Encoded: env.payload) else { return nil }
        return try? StatementSummary(statement: [UInt8](payload))
    }
}
