import GuardianMesh

/// Seeded fault runs of alert delivery (`DeliveryPolicy`, `SenderPlan`) on a project's three owners:
/// events become outbox entries on each owner as the result that caused them replicates, receivers
/// answer slowly or with errors, and the primary is killed (and restarted) or partitioned from the
/// other owners at random, also while it sends. A receiver counts what it accepted per delivery id:
/// an id never accepted is a lost alert, a second acceptance a duplicate (which carries the same id).
public struct AlertSimulator {
    public struct Config: Sendable {
        public var owners = 3
        public var events = 600
        /// Events arrive over this long; the run then goes on until every owner is up and joined.
        public var eventWindow: Millis = 600_000
        public var replicationDelay: ClosedRange<Millis> = 20...400
        public var failureDetection: Millis = 2_000
        /// Receivers: this share of attempts fails (half with a 429 and Retry-After), and an attempt takes this long.
        public var failureRate = 0.2
        public var latency: ClosedRange<Millis> = 5...800
        public var faults = 3
        /// 0: kills and partitions at random; 1: kills only; 2: partitions only.
        public var faultKinds = 0
        public var faultLength: ClosedRange<Millis> = 5_000...60_000
        /// The shipped policy (1 s doubling to 5 min, 20 attempts).
        public var policy = DeliveryPolicy()
        public var plan = SenderPlan(grace: 30_000)
        public var tick: Millis = 100
        public init() {}
    }

    public struct Outcome: Sendable, CustomStringConvertible {
        public var events = 0, delivered = 0, lost = 0, duplicates = 0, attempts = 0
        public var faults: [String] = []
        /// Entries that went dead (a receiver's outage outlasted the policy): reported, never counted as delivered.
        public var dead = 0
        public init() {}
        public var duplicateRate: Double { events == 0 ? 0 : Double(duplicates) / Double(events) }
        public var description: String {
            "\(events) events, \(delivered) delivered, \(lost) lost, \(dead) dead, \(duplicates) duplicates (\(Double(Int(duplicateRate * 10_000)) / 100) %), \(attempts) attempts; faults: \(faults.joined(separator: ", "))"
        }
    }

    struct Owner {
        var up = true
        /// Entries still to send: one leaves when its final record (sent or dead) is known here.
        var outbox: [String: OutboxEntry] = [:]
        /// Final records this owner holds, its own and those replicated to it.
        var finalRecords: Set<String> = []
        /// An attempt in flight: the entry, when the receiver answers, whether it will accept.
        var inFlight: (id: String, answersAt: Millis, outcome: AttemptOutcome, accepts: Bool)?
        /// Entries raised here, with the other owners that do not hold them yet.
        var unshared: [String: Set<Int>] = [:]
        /// When this owner last saw every other owner gone (`SenderPlan.cutOff`), as the sender does.
        var lastCutOff: Millis = .min / 2
    }

    /// After a cut-off, an owner sends nothing the others hold for this long (`AlertSender.quiet`).
    static let quiet: Millis = 5_000

    /// Something that reaches an owner later: an entry (its result replicated) or a delivery record.
    enum Arrival { case entry(OutboxEntry), delivered(String) }

    public let config: Config
    public init(config: Config = Config()) { self.config = config }

    public func run(seed: UInt64) -> Outcome {
        var rng = SplitMix64(seed: seed)
        let c = config
        var owners = [Owner](repeating: Owner(), count: c.owners)
        var pending: [(at: Millis, from: Int, to: Int, what: Arrival)] = []
        var accepted: [String: Int] = [:]
        var outcome = Outcome()
        // faults: the primary killed (and restarted) or partitioned from the other owners
        var kills: [(from: Millis, to: Millis)] = [], partitions: [(from: Millis, to: Millis)] = []
        for _ in 0..<c.faults {
            let from = Millis.random(in: 0...c.eventWindow, using: &rng), length = Millis.random(in: c.faultLength, using: &rng)
            let kill = c.faultKinds == 0 ? Bool.random(using: &rng) : c.faultKinds == 1
            if kill { kills.append((from, from + length)); outcome.faults.append("kill \(from / 1000)-\((from + length) / 1000) s") } else {
                partitions.append((from, from + length)); outcome.faults.append("partition \(from / 1000)-\((from + length) / 1000) s")
            }
        }
        func killed(_ i: Int, _ t: Millis) -> Bool { i == 0 && kills.contains { $0.from <= t && t < $0.to } }
        func cut(_ a: Int, _ b: Int, _ t: Millis) -> Bool { (a == 0) != (b == 0) && partitions.contains { $0.from <= t && t < $0.to } }
        /// How long owner `i` has seen owner `j` gone at `t` (a failure is noticed after
        /// `failureDetection`); nil while it sees it alive.
        func goneFor(_ i: Int, _ j: Int, _ t: Millis) -> Millis? {
            if i == j { return nil }
            let faults = (j == 0 ? kills : []) + ((i == 0) != (j == 0) ? partitions : [])
            guard let f = faults.first(where: { $0.from + c.failureDetection <= t && t < $0.to }) else { return nil }
            return t - (f.from + c.failureDetection)
        }
        let eventTimes = (0..<c.events).map { _ in Millis.random(in: 0...c.eventWindow, using: &rng) }.sorted()
        outcome.events = c.events
        let lastFault = (kills + partitions).map(\.to).max() ?? 0
        let end = max(c.eventWindow, lastFault) + 30 * c.plan.grace + 600_000
        var t: Millis = 0
        var nextEvent = 0
        while t <= end {
            // events: the result is stored on the primary (when up) and replicates to the others
            while nextEvent < eventTimes.count && eventTimes[nextEvent] <= t {
                let entry = OutboxEntry(deliveryID: "e\(nextEvent)", channel: "c", createdAt: t)
                if owners[0].up && !killed(0, t) {
                    owners[0].outbox[entry.deliveryID] = entry
                    owners[0].unshared[entry.deliveryID] = Set(1..<c.owners)
                    for j in 1..<c.owners { pending.append((t + Millis.random(in: c.replicationDelay, using: &rng), 0, j, .entry(entry))) }
                } else {
                    // the primary is down: the result is audited and stored by the next owner (failover of audits)
                    owners[1].outbox[entry.deliveryID] = entry
                    owners[1].unshared[entry.deliveryID] = Set((0..<c.owners).filter { $0 != 1 })
                    for j in 0..<c.owners where j != 1 { pending.append((t + Millis.random(in: c.replicationDelay, using: &rng), 1, j, .entry(entry))) }
                }
                nextEvent += 1
            }
            // kills and restarts: a killed owner loses its attempt in flight (the receiver may have accepted it)
            for i in 0..<c.owners {
                let down = killed(i, t)
                if down && owners[i].up {
                    owners[i].up = false
                    // the request reached the receiver, which accepts it whether or not the sender lives to read the answer
                    if let f = owners[i].inFlight, f.accepts { accepted[f.id, default: 0] += 1 }
                    owners[i].inFlight = nil
                } else if !down && !owners[i].up {
                    owners[i].up = true
                }
            }
            // arrivals: one to a dead owner or across a partition waits (anti-entropy brings it after)
            var still: [(at: Millis, from: Int, to: Int, what: Arrival)] = []
            for p in pending {
                guard p.at <= t else { still.append(p); continue }
                if !owners[p.to].up || cut(p.from, p.to, t) {
                    still.append((t + 1_000, p.from, p.to, p.what))
                    continue
                }
                switch p.what {
                case .entry(let e):
                    owners[p.from].unshared[e.deliveryID]?.remove(p.to)
                    if owners[p.to].outbox[e.deliveryID] == nil && !owners[p.to].finalRecords.contains(e.deliveryID) { owners[p.to].outbox[e.deliveryID] = e }
                case .delivered(let id):
                    owners[p.to].finalRecords.insert(id)
                    owners[p.to].outbox[id] = nil
                }
            }
            pending = still
            // answers and new attempts
            for i in 0..<c.owners where owners[i].up {
                if let f = owners[i].inFlight, f.answersAt <= t {
                    owners[i].inFlight = nil
                    if f.accepts { accepted[f.id, default: 0] += 1 }
                    guard var e = owners[i].outbox[f.id] else { continue }
                    e = c.policy.after(e, f.outcome, answer: nil, now: t, using: &rng)
                    owners[i].outbox[f.id] = e
                    // a final record, sent or dead, replicates: no other owner sends the entry after it
                    if e.isFinished {
                        if e.state == .dead { outcome.dead += 1 }
                        owners[i].outbox[f.id] = nil
                        owners[i].finalRecords.insert(f.id)
                        for j in 0..<c.owners where j != i { pending.append((t + Millis.random(in: c.replicationDelay, using: &rng), i, j, .delivered(f.id))) }
                    }
                }
                guard owners[i].inFlight == nil else { continue }
                if c.plan.cutOff(rank: i, owners: c.owners, goneFor: { goneFor(i, $0, t) }) { owners[i].lastCutOff = t }
                let quiet = t - owners[i].lastCutOff < Self.quiet
                let candidates = owners[i].outbox.values.filter { e in
                    let held = !(owners[i].unshared[e.deliveryID].map { !$0.isEmpty } ?? false)
                    if held && quiet { return false }
                    return c.plan.shouldSend(e, rank: i, owners: c.owners, heldElsewhere: held, now: t,
                                             delivered: owners[i].finalRecords.contains(e.deliveryID)) { goneFor(i, $0, t) }
                }
                guard let e = candidates.min(by: { ($0.nextAttemptAt ?? $0.createdAt, $0.deliveryID) < ($1.nextAttemptAt ?? $1.createdAt, $1.deliveryID) }) else { continue }
                outcome.attempts += 1
                let failed = Double.random(in: 0..<1, using: &rng) < c.failureRate
                let result: AttemptOutcome = failed
                    ? (Bool.random(using: &rng) ? .retry(retryAfter: Millis.random(in: 500...5_000, using: &rng)) : .retry(retryAfter: nil)) : .delivered
                owners[i].inFlight = (e.deliveryID, t + Millis.random(in: c.latency, using: &rng), result, !failed)
            }
            t += c.tick
            // done once every event was accepted and the faults are a few graces past (a standby's
            // late send, the last source of a duplicate, would have happened by then)
            if nextEvent == eventTimes.count && t > lastFault + 3 * c.plan.grace + c.failureDetection
                && owners.allSatisfy({ $0.inFlight == nil }) && (0..<c.events).allSatisfy({ accepted["e\($0)", default: 0] > 0 }) { break }
        }
        outcome.lost = (0..<c.events).filter { accepted["e\($0)", default: 0] == 0 }.count
        outcome.delivered = c.events - outcome.lost
        outcome.duplicates = accepted.values.map { max(0, $0 - 1) }.reduce(0, +)
        return outcome
    }
}
