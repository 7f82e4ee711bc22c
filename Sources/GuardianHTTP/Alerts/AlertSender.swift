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
            let target = channels[row.channel].map(Self.receiver) ?? row.channel
            guard load[target, default: 0] < perReceiver else { continue }
            let owners = await owners(of: row)
            guard let rank = SenderPlan.rank(of: nodeName, owners: owners) else { continue }
            let gone = await goneFor(owners)
            if plan.shouldSend(row.entry, rank: rank, now: now, delivered: false, goneFor: { r in gone[owners[r]] }) {
                busy[row.id] = target
                load[target, default: 0] += 1
                out.append(row)
            } else if rank > 0, now - row.createdAt > plan.maxAge {
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

    // MARK: mesh events

    static func memberKey(_ name: String) -> String { "member:\(name)" }

    /// The nodes that report on a member: its key's owners with one more, the member itself left out
    /// (so a member that owns its own key still has a full set of reporters).
    func memberOwners(key: String, member: String, mesh: MeshShell) async -> [String] {
        let n = api.node.config.replicationFactor
        return Array(await mesh.intendedOwners(of: key, count: n + 1).filter { $0 != member }.prefix(n))
    }
    static func member(ofKey key: String) -> String? { key.hasPrefix("member:") ? String(key.dropFirst(7)) : nil }

    /// A member the mesh declared dead, or one that left: every node that owns the member's key on
    /// the ring (the member itself left out) writes the same messages, and the first of them sends.
    public func memberEvent(_ e: MemberEvent) async {
        let kind: AlertEventKind
        switch e.kind {
        case .died: kind = .memberFailed
        case .left: kind = .memberLeft
        default: return
        }
        guard let mesh = api.mesh else { return }
        let key = Self.memberKey(e.member.name)
        guard await memberOwners(key: key, member: e.member.name, mesh: mesh).contains(nodeName) else { return }
        let channels = ((try? api.node.registry.channels()) ?? []).filter { $0.events.contains(kind.rawValue) }
        guard !channels.isEmpty else { return }
        let what = kind == .memberFailed ? "failed (the mesh declared it dead)" : "left the mesh"
        let event = AlertEvent(kind: kind, project: "", subject: e.member.name,
                               summary: "member \(e.member.name) at \(e.member.meta.address) \(what)", severity: kind == .memberFailed ? .high : .medium)
        let now = clock()
        var rows: [AlertOutboxRow] = []
        for c in channels {
            let context = AlertContext(projectId: "", projectName: "the mesh", team: c.team, resultId: nil, commit: nil, health: nil,
                                       link: api.node.config.publicURL.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/ui/mesh" })
            // one message per member, incarnation and kind: every owner computes the same id
            var row = AlertOutboxRow(id: OutboxEntry.deliveryID(result: "\(key):\(e.member.incarnation):\(kind.rawValue)", eventKey: "events", channel: c.id),
                                     projectId: nil, channel: c.id, resultId: key, payload: AlertPayload(context: context, events: [event]).encoded,
                                     createdAt: now, updatedAt: now)
            if let period = DigestPeriod(rawValue: api.node.alerts.frequency(c).rawValue) {
                row.state = DeliveryState.held.rawValue
                row.digest = period.rawValue
                row.nextAttemptAt = period.start(containing: now) + period.length
            }
            rows.append(row)
        }
        do { try store.insert(alerts: rows) } catch {
            logger.error("could not queue a member alert", metadata: ["member": "\(e.member.name)", "error": "\(error)"])
        }
    }

    func goneFor(_ owners: [String]) async -> [String: Millis] {
        guard let mesh = api.mesh else { return [:] }
        return await mesh.goneFor(owners)
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
        guard let channel = try? api.node.registry.channel(id: row.channel) else { return (.rejected, "the channel no longer exists") }
        guard let payload = AlertPayload.decode(row.payload) else { return (.rejected, "the message could not be read") }
        return await transport.send(payload.events, payload.context, deliveryID: row.id, to: channel)
    }

    /// Tells the project's other owners (alive ones; a failed one learns nothing and, as a
    /// standby, waits its grace) that the entry is final.
    /// Whether every other owner acknowledged the record (trivially, with none).
    func pushFinal(_ row: AlertOutboxRow) async -> Bool {
        let others = await owners(of: row).filter { $0 != nodeName }
        guard !others.isEmpty else { return true }
        guard let body = try? JSONEncoder().encode([AlertFinalRecord(row)]) else { return false }
        return await post(body, to: others, path: API.alertFinalsPath).count == others.count
    }

    /// Rows raised here, pushed to the other owners until each has them (for as long as a standby
    /// could still send them): every owner then holds the same rows, whatever order the results
    /// reached it in, and a standby has what to send when the node that raised them dies.
    func shareRows(now: Int64) async {
        guard let rows = try? store.unsharedAlerts(since: now - plan.maxAge, limit: 500), !rows.isEmpty else { return }
        var groups: [[String]: [AlertOutboxRow]] = [:]
        for row in rows { groups[await owners(of: row).filter { $0 != nodeName }, default: []].append(row) }
        for (others, group) in groups {
            let ids = group.map(\.id)
            guard !others.isEmpty else { try? store.markShared(ids, at: now); continue }
            guard let body = try? JSONEncoder().encode(group) else { continue }
            guard await post(body, to: others, path: API.alertRowsPath).count == others.count else { continue }
            try? store.markShared(ids, at: now)
            // raised on a node that is none of the owners (it stood in for a failed one): the owners have them now
            if !(await owners(of: group[0])).contains(nodeName) {
                try? store.handOff(ids, answer: "raised here and handed to the owners, which send it", now: now)
            }
        }
    }

    /// Final records an owner has not acknowledged yet (it was down, cut off or slow), pushed again
    /// in batches per set of owners, for as long as the message could still be sent by a standby.
    func pushFinals(now: Int64) async {
        guard let rows = try? store.unpushedFinals(by: nodeName, since: now - plan.maxAge, limit: 500), !rows.isEmpty else { return }
        var groups: [[String]: [AlertOutboxRow]] = [:]
        for row in rows { groups[await owners(of: row).filter { $0 != nodeName }, default: []].append(row) }
        for (others, group) in groups {
            guard !others.isEmpty else { try? store.markForwarded(group.map(\.id), at: now); continue }
            guard let body = try? JSONEncoder().encode(group.map(AlertFinalRecord.init)) else { continue }
            if await post(body, to: others, path: API.alertFinalsPath).count == others.count { try? store.markForwarded(group.map(\.id), at: now) }
        }
    }

    /// POSTs `body` to each named member under a member claim; the members that answered 2xx.
    func post(_ body: Data, to members: [String], path: String) async -> Set<String> {
        guard let mesh = api.mesh, !members.isEmpty else { return [] }
        let addresses = await mesh.httpAddresses()
        return await withTaskGroup(of: String?.self) { group in
            for o in members {
                guard let address = addresses[o] else { continue }
                group.addTask {
                    do {
                        let answer = try await self.api.send(method: "POST", path: path, headers: [("Content-Type", "application/json")],
                                                             body: ByteBuffer(bytes: body), caller: .member, to: o, at: address, via: mesh)
                        if answer.response.status.code < 300 { return o }
                        self.logger.debug("a member refused an alert record", metadata: ["member": "\(o)", "path": "\(path)", "status": "\(answer.response.status.code)"])
                    } catch {
                        self.logger.debug("could not reach a member with an alert record", metadata: ["member": "\(o)", "path": "\(path)", "error": "\(error)"])
                    }
                    return nil
                }
            }
            var acked: Set<String> = []
            for await o in group { if let o { acked.insert(o) } }
            return acked
        }
    }

    // MARK: digests

    /// Held events go to their channel's owners, which send its digests: by the project's primary
    /// at once, by a standby once the owners before it look gone (as messages are sent). An event
    /// counts as forwarded once every other channel owner has it or looks gone.
    func forwardHeld(now: Int64) async {
        let rows: [AlertOutboxRow]
        do { rows = try store.unforwardedHeld(limit: 5_000) } catch { return }
        for (channel, group) in Dictionary(grouping: rows, by: \.channel) {
            var mine: [AlertOutboxRow] = []
            for row in group {
                let owners = await owners(of: row)
                guard let rank = SenderPlan.rank(of: nodeName, owners: owners) else { continue }
                let gone = await goneFor(owners)
                var entry = row.entry
                entry.state = .queued
                entry.nextAttemptAt = nil
                if plan.shouldSend(entry, rank: rank, now: now, delivered: false, goneFor: { gone[owners[$0]] }) { mine.append(row) }
            }
            guard !mine.isEmpty else { continue }
            let channelOwners = api.mesh == nil ? [nodeName] : await api.mesh!.intendedOwners(of: AlertDigest.ringKey(channel: channel))
            let others = channelOwners.filter { $0 != nodeName }
            var done = true
            if !others.isEmpty, let body = try? JSONEncoder().encode(mine) {
                let acked = await post(body, to: others, path: API.alertHeldPath)
                let gone = await goneFor(others)
                done = others.allSatisfy { acked.contains($0) || gone[$0] != nil }
            }
            if done { try? store.markForwarded(mine.map(\.id), at: now) }
        }
    }

    /// The digests whose period ended at least `settle` ago, built by each of the channel's owners
    /// (the same id on each: only one sends, as with messages). Events that reach an owner after it
    /// built the period's digest go into the next one.
    func buildDigests(now: Int64) async {
        let rows: [AlertOutboxRow]
        do { rows = try store.heldDue(before: now - settle, limit: 5_000) } catch { return }
        let groups = Dictionary(grouping: rows) { "\($0.channel)\u{0}\($0.digest ?? "")\u{0}\($0.nextAttemptAt ?? 0)" }
        for items in groups.values {
            let first = items[0]
            guard let end = first.nextAttemptAt else { continue }
            let ids = items.map(\.id)
            guard let period = first.digest.flatMap(DigestPeriod.init(rawValue:)),
                  let channel = try? api.node.registry.channel(id: first.channel) else {
                try? store.markDigested(ids, answer: "no digest: the channel no longer exists", now: now)
                continue
            }
            let channelOwners = api.mesh == nil ? [nodeName] : await api.mesh!.intendedOwners(of: AlertDigest.ringKey(channel: channel.id))
            guard channelOwners.contains(nodeName) else {
                // another node's digest: this node's events went there (forwarded by it, or by the
                // project's primary when this node's copy was a standby's), a settle period ago
                try? store.markDigested(ids, answer: "gathered by the channel's owners for its digest", now: now)
                continue
            }
            let start = end - period.length
            let id = period.deliveryID(channel: channel.id, start: start)
            if (try? store.hasAlert(id: id)) == true {
                _ = try? store.digest(AlertOutboxRow(id: id, projectId: nil, channel: channel.id, resultId: nil, payload: nil, createdAt: end, updatedAt: now),
                                      items: [], late: ids.map { ($0, end + period.length) }, now: now)
                continue
            }
            let projects: [(id: String, name: String, summary: ProjectSummary?)]
            if period == .weekly {
                let summaries = (try? store.summaries()) ?? [:]
                projects = ((try? store.projects()) ?? []).filter { channel.isMeshWide || $0.team == channel.team }.map { ($0.id, $0.name, summaries[$0.id]) }
            } else {
                projects = []
            }
            let link = api.node.config.publicURL.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/ui/teams/\(channel.team)" }
            let payload = AlertDigest.payload(channel: channel, period: period, start: start, held: items.compactMap { AlertPayload.decode($0.payload) },
                                              projects: projects, link: link)
            var row = AlertOutboxRow(id: id, projectId: nil, channel: channel.id, resultId: nil, payload: payload.encoded, createdAt: end, updatedAt: now)
            row.digest = period.rawValue
            do { try store.digest(row, items: ids, late: [], now: now) } catch {
                logger.error("could not write a digest", metadata: ["channel": "\(channel.id)", "error": "\(error)"])
            }
        }
    }
}
