import GuardianMesh
import GuardianSimulation
import Testing

/// Alert delivery's pure core: backoff and dead letters, who sends, digest periods, and seeded fault
/// runs of three owners whose primary is killed or partitioned while receivers fail.
@Suite struct AlertDeliveryTests {
    @Test func backoffGrowsWithJitterHonoursRetryAfterAndEndsInADeadLetter() {
        let policy = DeliveryPolicy(baseDelay: 1_000, maxDelay: 60_000, maxAttempts: 4, maxRetryAfter: 600_000)
        var rng = SplitMix64(seed: 7)
        for attempts in 1...10 {
            let d = min(60_000, Millis(1_000) << Millis(attempts - 1))
            for _ in 0..<50 {
                let delay = policy.delay(afterFailed: attempts, retryAfter: nil, using: &rng)
                #expect(delay >= d / 2 && delay <= d, "attempt \(attempts): \(delay) outside [\(d / 2), \(d)]")
            }
        }
        #expect(policy.delay(afterFailed: 1, retryAfter: 120_000, using: &rng) == 120_000, "a receiver's Retry-After is honoured")
        #expect(policy.delay(afterFailed: 1, retryAfter: 86_400_000, using: &rng) == 600_000, "but not past maxRetryAfter")

        var e = OutboxEntry(deliveryID: "d", channel: "c", createdAt: 0)
        e = policy.after(e, .retry(retryAfter: nil), answer: "500", now: 10, using: &rng)
        #expect(e.state == .retrying && e.attempts == 1 && (e.nextAttemptAt ?? 0) > 10 && e.lastAnswer == "500")
        e = policy.after(e, .delivered, answer: "200", now: 20, using: &rng)
        #expect(e.state == .sent && e.isFinished && e.nextAttemptAt == nil)

        var dead = OutboxEntry(deliveryID: "x", channel: "c", createdAt: 0)
        for i in 0..<4 { dead = policy.after(dead, .retry(retryAfter: nil), answer: "503", now: Millis(i), using: &rng) }
        #expect(dead.state == .dead && dead.attempts == 4)
        let rejected = policy.after(OutboxEntry(deliveryID: "y", channel: "c", createdAt: 0), .rejected, answer: "404", now: 0, using: &rng)
        #expect(rejected.state == .dead && rejected.attempts == 1, "a 4xx that retrying cannot fix goes dead at once")
    }

    @Test func thePrimarySendsAndAStandbyOnlyAfterItsGraceWithThePrimaryGone() {
        let plan = SenderPlan(grace: 30_000)
        let e = OutboxEntry(deliveryID: "d", channel: "c", createdAt: 1_000)
        #expect(SenderPlan.rank(of: "b", owners: ["a", "b", "c"]) == 1 && SenderPlan.rank(of: "z", owners: ["a", "b"]) == nil)
        #expect(plan.shouldSend(e, rank: 0, now: 1_000, delivered: false) { _ in nil })
        #expect(!plan.shouldSend(e, rank: 0, now: 1_000, delivered: true) { _ in nil }, "a delivery record ends it everywhere")
        // rank 1: never while the primary is seen alive, however old the entry; after one grace of it gone
        #expect(!plan.shouldSend(e, rank: 1, now: 10_000_000, delivered: false) { _ in nil })
        #expect(!plan.shouldSend(e, rank: 1, now: 100_000, delivered: false) { $0 == 0 ? 29_999 : nil })
        #expect(plan.shouldSend(e, rank: 1, now: 100_000, delivered: false) { $0 == 0 ? 30_000 : nil })
        // rank 2 waits for both before it, each gone twice the grace
        #expect(!plan.shouldSend(e, rank: 2, now: 100_000, delivered: false) { $0 == 0 ? 90_000 : nil })
        #expect(!plan.shouldSend(e, rank: 2, now: 100_000, delivered: false) { $0 == 0 ? 90_000 : 59_999 })
        #expect(plan.shouldSend(e, rank: 2, now: 100_000, delivered: false) { _ in 60_000 })
        var later = e
        later.nextAttemptAt = 50_000
        #expect(!plan.shouldSend(later, rank: 0, now: 49_999, delivered: false) { _ in nil }, "a backoff is waited out")
        later.state = .dead
        #expect(!plan.shouldSend(later, rank: 0, now: 99_999, delivered: false) { _ in nil }, "a dead letter is not sent again")
    }

    @Test func anOwnerCutOffFromEveryOtherWithholdsWhatTheyHoldUntilItTakesThemForDead() {
        let plan = SenderPlan(grace: 30_000)
        let e = OutboxEntry(deliveryID: "d", channel: "c", createdAt: 1_000)
        let send = { (rank: Int, held: Bool, gone: @escaping (Int) -> Millis?) in
            plan.shouldSend(e, rank: rank, owners: 3, heldElsewhere: held, now: 100_000, delivered: false, goneFor: gone)
        }
        // the primary sees both standbys gone: they take over after a grace
        #expect(!send(0, true) { $0 == 0 ? nil : 0 }, "from the moment it notices")
        #expect(send(0, false) { $0 == 0 ? nil : 15_000 }, "what only it holds it sends: nobody else can")
        #expect(send(0, true) { $0 == 1 ? 60_000 : nil }, "one standby alive: it sees the primary, nobody takes over")
        #expect(!send(0, true) { $0 == 0 ? nil : plan.resumeAfter - 1 })
        #expect(send(0, true) { $0 == 0 ? nil : plan.resumeAfter }, "gone for ten graces: taken for dead, sent")
        // a standby that took over and then lost the last other owner withholds as well
        #expect(send(1, true) { $0 == 0 ? 40_000 : nil })
        #expect(!send(1, true) { $0 == 1 ? nil : 40_000 })
        #expect(plan.shouldSend(e, rank: 0, owners: 1, heldElsewhere: true, now: 100_000, delivered: false) { _ in nil }, "a lone owner is never cut off")
    }

    @Test func digestPeriodsStartOnTheHourMidnightAndMonday() {
        // 2026-12-03 (a Thursday) 05:42:10.5 UTC
        let t: Millis = 1_796_276_530_500
        #expect(DigestPeriod.hourly.start(containing: t) == 1_796_274_000_000)
        #expect(DigestPeriod.daily.start(containing: t) == 1_796_256_000_000)
        #expect(DigestPeriod.weekly.start(containing: t) == 1_796_256_000_000 - 3 * 86_400_000, "Monday 2026-11-30")
        for p in DigestPeriod.allCases {
            let s = p.start(containing: t)
            #expect(s <= t && t < s + p.length && p.start(containing: s) == s && p.start(containing: s - 1) == s - p.length)
        }
        #expect(DigestPeriod.daily.deliveryID(channel: "ops", start: 5) == DigestPeriod.daily.deliveryID(channel: "ops", start: 5))
    }

    /// The bar: no alert lost and at most 1 % duplicate deliveries over 20 seeded fault runs,
    /// each duplicate with the same delivery id; exactly one delivery per event without faults.
    @Test func seededFaultRunsLoseNothingAndDuplicateLittle() {
        var totals = AlertSimulator.Outcome()
        for seed in 1...20 {
            let run = AlertSimulator().run(seed: UInt64(seed))
            #expect(run.lost == 0, "seed \(seed): \(run)")
            totals.events += run.events; totals.duplicates += run.duplicates; totals.lost += run.lost
        }
        #expect(totals.duplicateRate <= 0.01, "\(totals.duplicates) duplicates of \(totals.events) events")
        var calm = AlertSimulator.Config()
        calm.faults = 0
        for seed in 1...5 {
            let run = AlertSimulator(config: calm).run(seed: UInt64(seed))
            #expect(run.lost == 0 && run.duplicates == 0 && run.delivered == run.events, "seed \(seed): \(run)")
        }
    }
}

extension AlertDeliveryTests {
    @Test func deliveryIDsAreTheSameOnEveryOwnerAndDifferPerEventAndChannel() {
        let a = OutboxEntry.deliveryID(result: "r1", eventKey: "finding.new:f1", channel: "ops")
        #expect(a == OutboxEntry.deliveryID(result: "r1", eventKey: "finding.new:f1", channel: "ops") && a.hasPrefix("evt-") && a.count == 20)
        #expect(a != OutboxEntry.deliveryID(result: "r1", eventKey: "finding.new:f1", channel: "dev"))
        #expect(a != OutboxEntry.deliveryID(result: "r2", eventKey: "finding.new:f1", channel: "ops"))
        #expect(OutboxEntry.deliveryID(result: "r", eventKey: "ab", channel: "c") != OutboxEntry.deliveryID(result: "ra", eventKey: "b", channel: "c"))
    }

    @Test func aStandbySendsNothingOlderThanMaxAgeAndPoliciesStayInRange() {
        let plan = SenderPlan(grace: 1_000, maxAge: 60_000)
        let old = OutboxEntry(deliveryID: "d", channel: "c", createdAt: 0)
        #expect(plan.shouldSend(old, rank: 1, now: 60_000, delivered: false) { _ in 5_000 })
        #expect(!plan.shouldSend(old, rank: 1, now: 60_001, delivered: false) { _ in 5_000 }, "a day-old alert is not news")
        #expect(plan.shouldSend(old, rank: 0, now: 10_000_000, delivered: false) { _ in nil }, "the primary's own retries are bounded by the policy, not by age")
        let p = DeliveryPolicy(baseDelay: -5, maxDelay: -1, maxAttempts: 0)
        var rng = SplitMix64(seed: 1)
        #expect(p.baseDelay == 1 && p.maxDelay == 1 && p.maxAttempts == 1)
        #expect(p.delay(afterFailed: 40, retryAfter: nil, using: &rng) == 1)
        #expect(DeliveryPolicy(baseDelay: Millis.max).delay(afterFailed: 64, retryAfter: nil, using: &rng) <= 86_400_000, "no overflow")
    }
}
