import Testing
@testable import GuardianMesh

/// When a former owner may drop a project's results.
@Suite struct HandoffPlannerTests {
    static let grace: Millis = 60_000

    /// "me" owned p with b; now b, c and d own it.
    static func owners(_ p: String) -> [String] { p == "p" ? ["b", "c", "d"] : ["me", "b", "c"] }

    @Test func scopesNameEveryOtherOwnerOfWhatThisNodeOwnsOrHolds() {
        var planner = HandoffPlanner(me: "me", grace: Self.grace)
        let plan = planner.plan(registered: ["p", "q", "r"], held: ["p"], owners: Self.owners, now: 0, running: [])
        #expect(plan.scopes == ["b": ["p", "q", "r"], "c": ["p", "q", "r"], "d": ["p"]])
        #expect(plan.drop.isEmpty && planner.handoffs["p"]?.owners == ["b", "c", "d"])
        // a project this node neither owns nor holds is none of its business
        #expect(planner.plan(registered: ["p"], held: [], owners: Self.owners, now: 0, running: []).scopes.isEmpty)
    }

    @Test func dropsOnlyOnceEveryOwnerConfirmedAndTheGracePassed() {
        var planner = HandoffPlanner(me: "me", grace: Self.grace)
        func plan(_ now: Millis, running: Set<String> = []) -> HandoffPlanner.Plan {
            planner.plan(registered: ["p"], held: ["p"], owners: Self.owners, now: now, running: running)
        }
        #expect(plan(0).drop.isEmpty)
        planner.confirmed("b", scope: ["p"])
        planner.confirmed("c", scope: ["p"])
        #expect(plan(Self.grace).drop.isEmpty, "d has not confirmed")
        planner.confirmed("d", scope: ["p"])
        #expect(plan(Self.grace - 1).drop.isEmpty, "within the grace period")
        #expect(plan(Self.grace, running: ["c"]).drop.isEmpty, "a session with an owner still runs")
        let done = plan(Self.grace)
        #expect(done.drop == ["p": ["b", "c", "d"]] && done.scopes["d"] == ["p"] && done.scopes(without: ["p"])["d"] == [])
        #expect(planner.handoffs["p"] == nil)
    }

    @Test func newOwnersConfirmAgainAndOwningAgainCancels() {
        var planner = HandoffPlanner(me: "me", grace: Self.grace)
        var owners = ["b", "c"]
        _ = planner.plan(registered: ["p"], held: ["p"], owners: { _ in owners }, now: 0, running: [])
        planner.confirmed("b", scope: ["p"])
        planner.confirmed("c", scope: ["p"])
        owners = ["b", "e"]
        #expect(planner.plan(registered: ["p"], held: ["p"], owners: { _ in owners }, now: Self.grace, running: []).drop.isEmpty)
        #expect(planner.handoffs["p"]?.confirmed.isEmpty == true && planner.handoffs["p"]?.since == 0)
        owners = ["me", "b"]
        _ = planner.plan(registered: ["p"], held: ["p"], owners: { _ in owners }, now: Self.grace, running: [])
        #expect(planner.handoffs["p"] == nil)
        // a confirmation from a member that is not an owner counts for nothing
        owners = ["b", "c"]
        _ = planner.plan(registered: ["p"], held: ["p"], owners: { _ in owners }, now: Self.grace, running: [])
        planner.confirmed("z", scope: ["p"])
        #expect(planner.handoffs["p"]?.confirmed.isEmpty == true)
    }
}
