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
    private let inFlight = Mutex<Set<String>>([])
    private let rng = Mutex(SystemRandomNumberGenerator())

    public init(api: API, logger: Logger, interval: Duration = .milliseconds(200), slots: Int = 16) throws {
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
    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                for row in await due() { group.addTask { await self.attempt(row) } }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// The entries this node should attempt now, claimed as in flight (at most `slots` at once).
    func due() async -> [AlertOutboxRow] {
        let free = slots - inFlight.withLock { $0.count }
        guard free > 0 else { return [] }
        let now = Self.nowMs()
        let rows: [AlertOutboxRow]
        do { rows = try store.dueAlerts(now: now, limit: 256) } catch {
            logger.error("could not read the alert outbox", metadata: ["error": "\(error)"])
            return []
        }
        var out: [AlertOutboxRow] = []
        var expired: [AlertOutboxRow] = []
        for row in rows where out.count < free {
            guard !inFlight.withLock({ $0.contains(row.id) }) else { continue }
            let owners = await owners(of: row.projectId)
            guard let rank = SenderPlan.rank(of: nodeName, owners: owners) else { continue }
            let gone = await goneFor(owners)
            if plan.shouldSend(row.entry, rank: rank, now: now, delivered: false, goneFor: { r in gone[owners[r]] }) {
                if inFlight.withLock({ $0.insert(row.id).inserted }) { out.append(row) }
            } else if rank > 0, now - row.createdAt > plan.maxAge {
                // a standby's copy that no owner's record finished within a day: it will never send it
                expired.append(row)
            }
        }
        for var row in expired {
            row.state = DeliveryState.expired.rawValue
            row.lastAnswer = "not sent by this standby: no delivery record arrived from the owner that had it within a day"
            row.updatedAt = now
            try? store.update(alert: row)
        }
        return out
    }

    /// Intended owners (a failed member keeps its rank until it leaves): the plan's ranks.
    func owners(of project: String?) async -> [String] {
        guard let project else { return [nodeName] }
        guard let mesh = api.mesh else { return [nodeName] }
        return await mesh.intendedOwners(of: project)
    }

    func goneFor(_ owners: [String]) async -> [String: Millis] {
        guard let mesh = api.mesh else { return [:] }
        return await mesh.goneFor(owners)
    }

    /// One attempt: sends, records the outcome, and on a final one tells the other owners.
    func attempt(_ row: AlertOutboxRow) async {
        defer { _ = inFlight.withLock { $0.remove(row.id) } }
        // an owner's final record may have arrived since the entry was read
        if (try? store.alertFinished(id: row.id)) == true { return }
        let (outcome, answer) = await deliver(row)
        let now = Self.nowMs()
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
            await pushFinal(updated)
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
    func pushFinal(_ row: AlertOutboxRow) async {
        guard let mesh = api.mesh, let project = row.projectId else { return }
        let others = await mesh.intendedOwners(of: project).filter { $0 != nodeName }
        guard !others.isEmpty, let body = try? JSONEncoder().encode([AlertFinalRecord(row)]) else { return }
        let addresses = await mesh.httpAddresses()
        await withDiscardingTaskGroup { group in
            for o in others {
                guard let address = addresses[o] else { continue }
                group.addTask {
                    do {
                        let answer = try await self.api.send(method: "POST", path: API.alertFinalsPath, headers: [("Content-Type", "application/json")],
                                                             body: ByteBuffer(bytes: body), caller: .member, to: o, at: address, via: mesh)
                        if answer.response.status.code >= 300 {
                            self.logger.debug("an owner refused an alert's final record", metadata: ["owner": "\(o)", "status": "\(answer.response.status.code)"])
                        }
                    } catch {
                        self.logger.debug("could not tell an owner an alert is final", metadata: ["owner": "\(o)", "error": "\(error)"])
                    }
                }
            }
        }
    }
}
