import AsyncHTTPClient
import Foundation
import GuardianCore
import GuardianMesh
import GuardianNode
import GuardianStore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// The node's alert sender (docs/alerts.md): drains the outbox. For each due entry it asks the
/// pure core (`SenderPlan`) whether this node sends it now: the project's primary at once, a
/// standby only once the owners before it have looked gone for its rank × the grace. It sends over
/// HTTP (Slack, Discord, webhooks) or SMTP (email), records the outcome with `DeliveryPolicy`, and
/// pushes a final record (sent or dead) to the other owners, which then never send the entry.
/// Sends run concurrently up to `slots`, so a slow receiver holds one slot, not the sender, and
/// never the audits.
public final class AlertSender: Service, Sendable {
    let api: API
    let logger: Logger
    let policy: DeliveryPolicy
    let plan: SenderPlan
    let transport: AlertTransport
    /// How often the outbox is read for due entries.
    let interval: Duration
    let slots: Int
    /// Messages being sent, by id, with their receiver (a URL's host, or the SMTP server).
    private let inFlight = Mutex<[String: String]>([:])
    /// At most this many sends to one receiver at once: a slow receiver holds a few slots, and the
    /// messages of the others go out meanwhile.
    let perReceiver = 4
    private let rng = Mutex(SystemRandomNumberGenerator())
    /// Milliseconds since 1970 (a test moves it to a period's end).
    let clock: @Sendable () -> Int64
    /// A digest is built this long after its period ends, so that the events of the period's last
    /// results reach the channel's owners first (a standby forwards after up to two graces).
    var settle: Millis { 3 * plan.grace }
    /// No message is started before this time: after a start, or a pause in the node's own
    /// schedule (a stopped process, a suspended machine), the other owners' final records of what
    /// they sent meanwhile arrive first (they push them every 2 s until they are acknowledged).
    private let quietUntil = Mutex<Int64>(0)
    private let lastTick = Mutex<Int64>(0)
    static let quiet: Int64 = 5_000
    /// When this node last saw every other owner of a row gone (`SenderPlan.cutOff`): for `quiet`
    /// after it, it sends nothing the other owners hold, so that the final records of what they
    /// sent while it was cut off arrive first.
    private let lastCutOff = Mutex<Int64>(.min / 2)
    private let lastPrune = Mutex<Int64>(0)

    public init(api: API, logger: Logger, interval: Duration = .milliseconds(200), slots: Int = 32,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) throws {
        self.clock = clock
        let c = api.node.config
        self.api = api
        self.logger = logger
        policy = DeliveryPolicy(maxAttempts: c.alertMaxAttempts)
        plan = SenderPlan(grace: Millis(c.alertGraceSeconds) * 1000)
        transport = try AlertTransport(c)
        self.interval = interval
        self.slots = slots
    }

    var store: Store { api.node.store }
    var nodeName: String { api.node.config.name }
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            // what reaches other members runs apart: a slow or unreachable member delays no send
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    await self.maintain(now: self.clock())
                    try? await Task.sleep(for: .seconds(2))
                }
            }
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await tick(group: &group)
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One round: the due messages started, unless the sender is quiet after a start or a pause.
    func tick(group: inout DiscardingTaskGroup) async {
        let now = clock()
        let paused = lastTick.withLock { last in
            defer { last = now }
            return last == 0 || now - last > 5_000
        }
        if paused { quietUntil.withLock { $0 = now + Self.quiet } }
        guard now >= quietUntil.withLock({ $0 }) else { return }
        for row in await due() { group.addTask { await self.attempt(row) } }
    }

    /// Every 2 s: rows shared, final records pushed and held events forwarded to the owners that
    /// have not acknowledged them, digests built, the outbox gauge set, and hourly the history pruned.
    func maintain(now: Int64) async {
        if let counts = try? store.alertCounts() {
            for state in DeliveryState.allCases {
                Metrics.Gauge(label: "guardian_alert_outbox", dimensions: [("state", state.rawValue)]).record(counts[state.rawValue] ?? 0)
            }
        }
        await shareRows(now: now)
        await pushFinals(now: now)
        await forwardHeld(now: now)
        await buildDigests(now: now)
        if lastPrune.withLock({ last in
            guard now - last >= 3_600_000 else { return false }
            last = now
            return true
        }) {
            _ = try? store.pruneAlerts(before: now - Self.historyDays * 86_400_000)
        }
    }

    /// How long finished messages stay in the history.
    static let historyDays: Int64 = 30

    /// The entries this node should attempt now, claimed as in flight (at most `slots` at once).
    func due() async -> [AlertOutboxRow] {
        var busy = inFlight.withLock { $0 }
        guard slots - busy.count > 0 else { return [] }
        let now = clock()
        let rows: [AlertOutboxRow]
        // a window per channel wide enough for the copies a standby holds while their primary sends
        do { rows = try store.dueAlerts(now: now, perChannel: 32, limit: 1_024) } catch {
            logger.error("could not read the alert outbox", metadata: ["error": "\(error)"])
            return []
        }
        guard !rows.isEmpty else { return [] }
        let channels = Dictionary(((try? api.node.registry.channels()) ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var load: [String: Int] = [:]
        for target in busy.values { load[target, default: 0] += 1 }
        var out: [AlertOutboxRow] = []
        var expired: [AlertOutboxRow] = []
        for row in rows where busy.count < slots {
            guard busy[row.id] == nil else { continue }
            // a pull request's writes go one at a time (a comment is found, then edited): one receiver per request
            let request = PullRequestReport.isChannel(row.channel)
            let target = request ? "pr:\(row.projectId ?? ""):\(row.channel)" : channels[row.channel].map(Self.receiver) ?? row.channel
            guard load[target, default: 0] < (request ? 1 : perReceiver) else { continue }
            guard let rank = await rank(of: row) else { continue }
            if await acts(on: row.entry, rank: rank, heldElsewhere: row.sharedAt != nil, now: now) {
                busy[row.id] = target
                load[target, default: 0] += 1
                out.append(row)
            } else if rank.rank > 0, now - row.createdAt > plan.maxAge {
                // a standby's copy that no owner's record finished within a day: it will never send it
                expired.append(row)
            }
        }
        inFlight.withLock { current in for r in out { current[r.id] = busy[r.id] } }
        for var row in expired {
            row.state = DeliveryState.expired.rawValue
            row.lastAnswer = "not sent by this standby: no delivery record arrived from the owner that had it within a day"
            row.updatedAt = now
            try? store.update(alert: row)
        }
        return out
    }

    /// Who receives a channel's messages: the URL's host and port, or the SMTP server.
    static func receiver(_ c: AlertChannel) -> String {
        guard c.channelKind != .email, let u = c.url.flatMap(URLComponents.init(string:)) else { return "smtp" }
        return "\(u.host ?? ""):\(u.port ?? 0)"
    }

    /// Intended owners (a failed member keeps its rank until it leaves): the plan's ranks. A
    /// message of a project is its owners'; a digest is its channel's owners'.
    func owners(of row: AlertOutboxRow) async -> [String] {
        guard let mesh = api.mesh else { return [nodeName] }
        if row.projectId == nil, let key = row.resultId, let member = Self.member(ofKey: key) {
            return await memberOwners(key: key, member: member, mesh: mesh)
        }
        return await mesh.intendedOwners(of: row.projectId ?? AlertDigest.ringKey(channel: row.channel))
    }

    func goneFor(_ owners: [String]) async -> [String: Millis] {
        guard let mesh = api.mesh else { return [:] }
        return await mesh.goneFor(owners)
    }

    /// This node's rank among a row's owners, with the owners; nil when it is none of them.
    func rank(of row: AlertOutboxRow) async -> (rank: Int, owners: [String])? {
        let owners = await owners(of: row)
        return SenderPlan.rank(of: nodeName, owners: owners).map { ($0, owners) }
    }

    /// Whether this node, at `rank`, acts on the entry now (`SenderPlan`: the primary at once, a
    /// standby once the owners before it have looked gone long enough, neither while cut off from
    /// the other owners that hold the entry nor for `quiet` after).
    func acts(on entry: OutboxEntry, rank: (rank: Int, owners: [String]), heldElsewhere: Bool = false, now: Int64) async -> Bool {
        let gone = await goneFor(rank.owners)
        let goneForRank: (Int) -> Millis? = { gone[rank.owners[$0]] }
        if plan.cutOff(rank: rank.rank, owners: rank.owners.count, goneFor: goneForRank) { lastCutOff.withLock { $0 = max($0, now) } }
        if heldElsewhere && now - lastCutOff.withLock({ $0 }) < Self.quiet { return false }
        return plan.shouldSend(entry, rank: rank.rank, owners: rank.owners.count, heldElsewhere: heldElsewhere, now: now, delivered: false,
                               goneFor: goneForRank)
    }

    /// The owners of a channel's digests.
    func channelOwners(_ channel: String) async -> [String] {
        guard let mesh = api.mesh else { return [nodeName] }
        return await mesh.intendedOwners(of: AlertDigest.ringKey(channel: channel))
    }

    /// One attempt: sends, records the outcome, and on a final one tells the other owners.
    func attempt(_ row: AlertOutboxRow) async {
        defer { _ = inFlight.withLock { $0.removeValue(forKey: row.id) } }
        // an owner's final record may have arrived since the entry was read
        if (try? store.alertFinished(id: row.id)) == true { return }
        let (outcome, answer) = await deliver(row)
        let now = clock()
        let entry = rng.withLock { policy.after(row.entry, outcome, answer: answer, now: now, using: &$0) }
        let updated = row.with(entry, now: now, by: nodeName)
        do { try store.update(alert: updated) } catch {
            logger.error("could not record an alert's delivery", metadata: ["delivery": "\(row.id)", "error": "\(error)"])
        }
        Metrics.Counter(label: "guardian_alert_attempts_total", dimensions: [("outcome", Self.label(outcome))]).increment()
        if entry.isFinished {
            let team = row.channel.split(separator: ".").dropLast().joined(separator: ".")
            await api.node.events.publish("alert.\(entry.state.rawValue)", ["delivery": row.id, "channel": row.channel,
                                                                           "project": row.projectId ?? "", "answer": answer], team: team)
            if entry.state == .dead {
                logger.warning("alert dead", metadata: ["delivery": "\(row.id)", "channel": "\(row.channel)", "answer": "\(answer)"])
            }
            if await pushFinal(updated) { try? store.markForwarded([row.id], at: now) }
        }
    }

    static func label(_ o: AttemptOutcome) -> String {
        switch o {
        case .delivered: "delivered"
        case .retry: "retry"
        case .rejected: "rejected"
        }
    }

    /// The message of a row, sent to its channel as it is now.
    func deliver(_ row: AlertOutboxRow) async -> (AttemptOutcome, String) {
        if PullRequestReport.isChannel(row.channel) {
            guard let id = row.projectId, let project = try? store.project(id: id) else { return (.rejected, "the project no longer exists") }
            guard let host = api.node.codeHost(of: project) else { return (.rejected, "the project has no codeHost (or it does not open with this node's secret.key)") }
            guard let report = PullRequestReport.decode(row.payload) else { return (.rejected, "the report could not be read") }
            return await CodeHostWriter(host: host, targets: transport.targets).write(report)
        }
        guard let channel = try? api.node.registry.channel(id: row.channel) else { return (.rejected, "the channel no longer exists") }
        guard let payload = AlertPayload.decode(row.payload) else { return (.rejected, "the message could not be read") }
        return await transport.send(payload.events, payload.context, deliveryID: row.id, to: channel)
    }

}
