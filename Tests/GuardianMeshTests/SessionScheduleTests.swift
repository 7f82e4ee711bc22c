import Testing
@testable import GuardianMesh

/// Anti-entropy session scheduling: every member gets one session per cycle, at most `parallel` at
/// once, and nobody is served twice in a cycle while others wait.
@Suite struct SessionScheduleTests {
    /// Six members, four at a time: the first round starts four, the two left start as sessions end,
    /// and then nothing is due until the next cycle. (The old rule, "the first four by name, every
    /// round", never served e and f.)
    @Test func everyMemberGetsASessionEachCycle() {
        var s = SessionSchedule(parallel: 4)
        let members = ["a", "b", "c", "d", "e", "f"]
        s.startCycle(members)
        #expect(s.next { _ in true } == ["a", "b", "c", "d"])
        #expect(s.next { _ in true } == [], "the most sessions are running")
        #expect(s.ended("a") == true, "e and f wait: a catch-up round is due")
        #expect(s.next { _ in true } == ["e"])
        #expect(s.ended("b") == true)
        #expect(s.next { _ in true } == ["f"])
        for m in ["c", "d", "e"] { #expect(s.ended(m) == false) }
        #expect(s.next { _ in true } == [], "everyone was served this cycle")
        #expect(s.ended("f") == false)
        // the next cycle serves everyone again
        s.startCycle(members)
        var served: [String] = []
        for _ in 0..<10 {
            let started = s.next { _ in true }
            served += started
            for m in started { _ = s.ended(m) }
        }
        #expect(served.sorted() == members)
    }

    /// A member still in a session when a new cycle starts (a connect begun while it was cut off)
    /// gets a new session once that one ends; one that is not reachable leaves the cycle.
    @Test func runningAndUnreachableMembers() {
        var s = SessionSchedule(parallel: 4)
        s.startCycle(["a", "b"])
        #expect(s.next { _ in true } == ["a", "b"])
        s.startCycle(["a", "b", "c"]) // a membership change while a and b are running
        #expect(s.next { $0 != "c" } == [], "a and b are running, c is unreachable")
        #expect(s.waiting == ["a", "b"])
        #expect(s.ended("a") == true)
        #expect(s.next { _ in true } == ["a"])
        #expect(s.ended("b") == true)
        #expect(s.next { _ in true } == ["b"])
        #expect(s.ended("a") == false && s.ended("b") == false)
        #expect(s.waiting.isEmpty && s.running.isEmpty)
    }

    @Test func duplicatesAndAtLeastOneSession() {
        var s = SessionSchedule(parallel: 0)
        s.startCycle(["a", "a", "b"])
        #expect(s.next { _ in true } == ["a"])
        #expect(s.waiting == ["b"])
    }
}
