/// Alert delivery's pure core (docs/alerts.md): the outbox entry, the retry policy, who sends, and
/// the periods digests fall due in. No I/O and no clock: `now` and randomness are parameters.
///
/// One message per (event, channel) is written to the outbox of every owner of the project, with a
/// delivery id that every owner computes the same way. The primary sends; each other owner is a
/// standby of rank 1, 2, … that sends an entry only when no owner's final record for it (sent or
/// dead) has reached it and the owners ranked before it have looked gone for rank × the grace
/// period. A receiver that sees a delivery id twice can drop the repeat (`X-Guardian-Delivery`).

/// What became of one delivery attempt.
public enum AttemptOutcome: Sendable, Equatable {
    /// A 2xx, or an SMTP 250: the message is delivered.
    case delivered
    /// 429, 5xx, a timeout, a refused connection: try again later; `retryAfter` when the receiver said when.
    case retry(retryAfter: Millis?)
    /// A 4xx other than 408 and 429 (a webhook URL that no longer exists, a bad credential): trying again will not help.
    case rejected
}

/// The state of an outbox entry, as the history API shows it. `expired`: a standby's copy that it
/// never had to send and that no owner's final record reached within `SenderPlan.maxAge`. `held`:
/// an event waiting for its channel's digest; `digested`: gathered into one (its id in the answer).
public enum DeliveryState: String, Sendable, Codable, Equatable, CaseIterable {
    case queued, retrying, sent, dead, expired, held, digested
}

/// One message in the outbox.
public struct OutboxEntry: Sendable, Equatable, Codable {
    /// The same on every owner: the receiver's key for dropping a repeat.
    public var deliveryID: String
    public var channel: String
    public var createdAt: Millis
    public var state: DeliveryState = .queued
    public var attempts = 0
    /// When the next attempt may start (nil: now).
    public var nextAttemptAt: Millis?
    /// The receiver's last answer, for the history.
    public var lastAnswer: String?

    public init(deliveryID: String, channel: String, createdAt: Millis) {
        self.deliveryID = deliveryID; self.channel = channel; self.createdAt = createdAt
    }

    /// The delivery id of an event of a result for a channel: the same on every owner, which all
    /// hold the same result. Hex of a 64-bit hash of the three, prefixed so a reader knows its kind.
    public static func deliveryID(result: String, eventKey: String, channel: String) -> String {
        let h = MeshHash.of("\(result)\u{0}\(eventKey)\u{0}\(channel)")
        let hex = String(h, radix: 16)
        return "evt-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    public var isFinished: Bool { state == .sent || state == .dead || state == .expired || state == .digested }
}

/// Exponential backoff with equal jitter (uniform in the upper half of the delay), capped,
/// honouring a receiver's `Retry-After`; an entry goes dead after `maxAttempts` attempts (by
/// default about an hour and a half of a receiver's outage: 1 s doubling to 5 min, 20 attempts) or
/// at once when the receiver rejects it.
public struct DeliveryPolicy: Sendable, Equatable {
    public var baseDelay: Millis
    public var maxDelay: Millis
    public var maxAttempts: Int
    /// The longest `Retry-After` honoured (a receiver cannot park an entry for a day).
    public var maxRetryAfter: Millis

    /// Values out of range are brought in: delays of at least 1 ms, a cap no lower than the base, at least one attempt.
    public init(baseDelay: Millis = 1_000, maxDelay: Millis = 300_000, maxAttempts: Int = 20, maxRetryAfter: Millis = 3_600_000) {
        self.baseDelay = min(max(baseDelay, 1), 86_400_000)
        self.maxDelay = min(max(maxDelay, self.baseDelay), 86_400_000)
        self.maxAttempts = max(maxAttempts, 1)
        self.maxRetryAfter = max(maxRetryAfter, 0)
    }

    /// The delay before attempt `attempts + 1` after `attempts` failed ones: uniform in
    /// [d/2, d] where d = min(maxDelay, baseDelay · 2^(attempts-1)), never below `Retry-After`.
    public func delay<R: RandomNumberGenerator>(afterFailed attempts: Int, retryAfter: Millis?, using rng: inout R) -> Millis {
        let exponent = min(max(attempts - 1, 0), 30)
        // base ≤ 1 day and 2^30 × 1 day fits an Int64: no overflow before the cap
        let d = min(maxDelay, baseDelay << Millis(exponent))
        let jittered = d / 2 + Millis.random(in: 0...(d - d / 2), using: &rng)
        guard let retryAfter else { return jittered }
        return max(jittered, min(max(retryAfter, 0), maxRetryAfter))
    }

    /// The entry after an attempt that ended with `outcome` at `now`.
    public func after<R: RandomNumberGenerator>(_ entry: OutboxEntry, _ outcome: AttemptOutcome, answer: String?, now: Millis,
                                                using rng: inout R) -> OutboxEntry {
        var e = entry
        e.attempts += 1
        e.lastAnswer = answer
        switch outcome {
        case .delivered:
            e.state = .sent
            e.nextAttemptAt = nil
        case .rejected:
            e.state = .dead
            e.nextAttemptAt = nil
        case .retry(let retryAfter):
            if e.attempts >= maxAttempts {
                e.state = .dead
                e.nextAttemptAt = nil
            } else {
                e.state = .retrying
                e.nextAttemptAt = now + delay(afterFailed: e.attempts, retryAfter: retryAfter, using: &rng)
            }
        }
        return e
    }
}

/// Who sends an owner's outbox entries: the primary at once; a standby of rank r (1 = the owner
/// after the primary) only once every owner ranked before it has looked gone for `r × grace` and no
/// delivery record for the entry has arrived. The grace runs from when the standby lost sight of
/// them, not from the entry's age: a partition shorter than the grace makes no standby send, and
/// the entries of results audited on a standby after the primary died long ago go at once.
///
/// An owner that sees every other owner gone may be the cut-off side of a partition, whose other
/// side takes over after a grace: it withholds the entries the others hold (they send them) from
/// the moment it notices, until it sees one of them again or they have been gone for
/// `resumeAfter`, when it takes them for dead and sends. What it raised alone it still sends. What
/// it sent between the cut and noticing it (the failure detector's time) is sent again.
public struct SenderPlan: Sendable, Equatable {
    public var grace: Millis
    /// A standby sends nothing older than this: an entry that waited a day on a primary that could
    /// not deliver it went dead there, and its record may not have arrived; it is not news any more.
    public var maxAge: Millis

    public init(grace: Millis = 30_000, maxAge: Millis = 86_400_000) { self.grace = grace; self.maxAge = maxAge }

    /// How long every other owner must have looked gone before an owner that withheld what they
    /// hold takes them for dead and sends it: a partition shorter than this repeats nothing that
    /// was waiting when it began; a longer one repeats what was still waiting then.
    public var resumeAfter: Millis { 10 * grace }

    /// This node's rank among a project's owners (0 = primary), or nil when it is not an owner.
    public static func rank(of node: String, owners: [String]) -> Int? { owners.firstIndex(of: node) }

    /// Whether the owner at `rank` should attempt `entry` now. `delivered`: an owner's delivery
    /// record for the entry has reached this node. `goneFor(rank)`: how long this node has seen the
    /// owner of that rank gone (suspect, dead, left or unreachable), nil while it sees it alive.
    /// `owners`: how many owners the entry has; `heldElsewhere`: the other owners hold the entry.
    public func shouldSend(_ entry: OutboxEntry, rank: Int, owners: Int = 1, heldElsewhere: Bool = false, now: Millis, delivered: Bool,
                           goneFor: (Int) -> Millis?) -> Bool {
        guard !entry.isFinished, !delivered else { return false }
        if let next = entry.nextAttemptAt, next > now { return false }
        if heldElsewhere && cutOff(rank: rank, owners: owners, goneFor: goneFor) { return false }
        if rank == 0 { return true }
        guard now - entry.createdAt <= maxAge else { return false }
        let wait = Millis(rank) * grace
        return (0..<rank).allSatisfy { goneFor($0).map { $0 >= wait } ?? false }
    }

    /// Whether the owner at `rank` sees every other owner gone, none for `resumeAfter` yet: it may
    /// be the side of a partition whose entries the others send. A false suspicion only delays.
    public func cutOff(rank: Int, owners: Int, goneFor: (Int) -> Millis?) -> Bool {
        let others = (0..<owners).filter { $0 != rank }
        return !others.isEmpty && others.allSatisfy { r in goneFor(r).map { $0 < resumeAfter } ?? false }
    }
}

/// The period a digest covers: hourly, daily (UTC midnight) or weekly (Monday 00:00 UTC). Every
/// node computes the same start for the same instant, so a digest's delivery id is the same on
/// every node that sends it.
public enum DigestPeriod: String, Sendable, Codable, CaseIterable {
    case hourly, daily, weekly

    public var length: Millis {
        switch self {
        case .hourly: 3_600_000
        case .daily: 86_400_000
        case .weekly: 7 * 86_400_000
        }
    }

    /// The start of the period that contains `t` (ms since 1970, UTC). 1970-01-01 was a Thursday:
    /// weeks start on Mondays, four days later (1970-01-05) and every seven days from there.
    public func start(containing t: Millis) -> Millis {
        let offset: Millis = self == .weekly ? 4 * 86_400_000 : 0
        let shifted = t - offset
        let floor = shifted >= 0 ? shifted / length : (shifted - length + 1) / length
        return floor * length + offset
    }

    /// The delivery id of a channel's digest for the period starting at `start`.
    public func deliveryID(channel: String, start: Millis) -> String { "digest-\(rawValue)-\(channel)-\(start)" }
}
