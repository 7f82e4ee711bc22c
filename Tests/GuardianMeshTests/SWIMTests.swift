import Testing
@testable import GuardianMesh

/// The membership state machine driven by hand with an injected clock.
@Suite struct SWIMTests {
    static func meta(_ name: String) -> NodeMeta { NodeMeta(name: name, address: "\(name):7946", tags: ["team": "a"]) }

    /// An instance that knows `peers` as alive, with nothing queued to send.
    static func instance(_ name: String = "a", peers: [String] = ["b", "c", "d", "e"], lifeguard: Bool = true, now: Millis = 0) -> SWIMInstance {
        var c = SWIMInstance.Config()
        c.lifeguard = lifeguard
        var s = SWIMInstance(me: meta(name), config: c, seed: 42, now: now)
        _ = s.merge(peers.map { MemberState(meta: meta($0), status: .alive, incarnation: 1) }, from: "b", now: now)
        s.clearBroadcasts()
        return s
    }

    static func sends(_ ds: [SWIMInstance.Directive]) -> [(Message, String)] {
        ds.compactMap { if case .send(let m, let to) = $0 { (m, to) } else { nil } }
    }

    static func events(_ ds: [SWIMInstance.Directive]) -> [MemberEvent] {
        ds.compactMap { if case .event(let e) = $0 { e } else { nil } }
    }

    /// Runs ticks every `step` ms from `from` to `to`, collecting directives.
    static func advance(_ s: inout SWIMInstance, from: Millis, to: Millis, step: Millis = 10) -> [SWIMInstance.Directive] {
        var out: [SWIMInstance.Directive] = []
        var t = from
        while t <= to { out += s.tick(now: t); t += step }
        return out
    }

    @Test func pingIsAnsweredWithAckAndPiggybackedNews() {
        var s = Self.instance()
        _ = s.receive(.gossip(source: "b", updates: [.alive(incarnation: 1, meta: Self.meta("f"))]), from: "b:7946", now: 5)
        let ds = s.receive(.ping(seq: 9, target: "a", source: "b", updates: []), from: "b:7946", now: 10)
        let acks = Self.sends(ds)
        #expect(acks.count == 1)
        guard case .ack(let seq, let source, let updates) = acks[0].0 else { Issue.record("not an ack"); return }
        #expect(seq == 9 && source == "a" && acks[0].1 == "b:7946")
        #expect(updates.contains(.alive(incarnation: 1, meta: Self.meta("f"))), "the new member's news rides on the ack")
        // a ping for another name (a restarted node at this address) is not answered
        #expect(Self.sends(s.receive(.ping(seq: 10, target: "zz", source: "b", updates: []), from: "b:7946", now: 11)).isEmpty)
    }

    @Test func unansweredProbeGoesIndirectThenSuspects() {
        var s = Self.instance()
        let first = Self.advance(&s, from: 0, to: 1_000)
        let pings = Self.sends(first).filter { if case .ping = $0.0 { true } else { false } }
        #expect(pings.count == 1, "one probe per interval")
        guard case .ping(_, let target, _, _) = pings[0].0 else { return }
        // no ack: after the probe timeout, indirect probes go to 3 other members
        let later = Self.advance(&s, from: 1_010, to: 3_000)
        let reqs = Self.sends(later).filter { if case .pingReq(_, let t, _, _, _) = $0.0 { t == target } else { false } }
        #expect(reqs.count == 3)
        #expect(!reqs.contains { $0.1 == "\(target):7946" })
        // and then the target is suspected
        let suspected = Self.events(later).filter { $0.kind == .suspected }
        #expect(suspected.map(\.member.name).contains(target))
        #expect(s.members[target]?.status == .suspect)
        // no nacks came back from three relays: Lifeguard raises this node's awareness
        #expect(s.awareness >= 1)
    }

    @Test func timelyAckKeepsTheTargetAliveAndLowersAwareness() {
        var s = Self.instance()
        _ = s.receive(Update.suspect(name: "a", incarnation: 1, from: "b").asGossip, from: "b:7946", now: 0) // refute: awareness 1
        #expect(s.awareness == 1)
        var t: Millis = 0
        var acked = 0
        while t < 10_000 {
            for (m, _) in Self.sends(s.tick(now: t)) {
                if case .ping(let seq, let target, _, _) = m {
                    _ = s.receive(.ack(seq: seq, source: target, updates: []), from: "\(target):7946", now: t + 2)
                    acked += 1
                }
            }
            t += 10
        }
        #expect(acked >= 4)
        #expect(s.awareness == 0)
        #expect(s.members.values.allSatisfy { $0.status == .alive })
    }

    @Test func suspicionAboutMeIsRefutedWithAHigherIncarnation() {
        var s = Self.instance()
        let before = s.incarnation
        _ = s.receive(.gossip(source: "b", updates: [.suspect(name: "a", incarnation: before, from: "b")]), from: "b:7946", now: 10)
        #expect(s.incarnation == before + 1)
        let ds = s.receive(.ping(seq: 1, target: "a", source: "c", updates: []), from: "c:7946", now: 20)
        guard case .ack(_, _, let updates)? = Self.sends(ds).first?.0 else { Issue.record("no ack"); return }
        #expect(updates.contains(.alive(incarnation: before + 1, meta: Self.meta("a"))))
        // a stale suspicion (older incarnation) is ignored
        _ = s.receive(.gossip(source: "b", updates: [.suspect(name: "a", incarnation: before, from: "b")]), from: "b:7946", now: 30)
        #expect(s.incarnation == before + 1)
    }

    @Test func suspicionTimesOutToDeadAndConfirmationsShortenIt() throws {
        func deadAt(confirmations: [String]) -> Millis? {
            var s = Self.instance(peers: ["b", "c", "d", "e", "f", "g"])
            _ = s.receive(.gossip(source: "b", updates: [.suspect(name: "c", incarnation: 1, from: "b")]), from: "b:7946", now: 0)
            for f in confirmations {
                _ = s.receive(.gossip(source: f, updates: [.suspect(name: "c", incarnation: 1, from: f)]), from: "\(f):7946", now: 1)
            }
            var t: Millis = 0
            while t < 200_000 {
                // keep every other member answering so only c's fate is in play
                for (m, _) in Self.sends(s.tick(now: t)) {
                    if case .ping(let seq, let target, _, _) = m, target != "c" {
                        _ = s.receive(.ack(seq: seq, source: target, updates: []), from: "\(target):7946", now: t + 1)
                    }
                }
                if s.members["c"]?.status == .dead { return t }
                t += 50
            }
            return nil
        }
        let alone = try #require(deadAt(confirmations: []))
        let confirmed = try #require(deadAt(confirmations: ["d", "e"]))
        // min = 4·max(1, log10 7)·1 s = 4 s; alone the timeout is β·min = 24 s, with k = 2 confirmations min
        #expect(alone >= 23_000 && alone <= 25_000, "\(alone)")
        #expect(confirmed >= 3_900 && confirmed <= 4_500, "\(confirmed)")
    }

    @Test func withoutLifeguardTheTimeoutIsFixed() {
        var s = Self.instance(peers: ["b", "c", "d", "e", "f", "g"], lifeguard: false)
        _ = s.receive(.gossip(source: "b", updates: [.suspect(name: "c", incarnation: 1, from: "b")]), from: "b:7946", now: 0)
        var t: Millis = 0
        while s.members["c"]?.status != .dead && t < 100_000 {
            for (m, _) in Self.sends(s.tick(now: t)) {
                if case .ping(let seq, let target, _, _) = m, target != "c" {
                    _ = s.receive(.ack(seq: seq, source: target, updates: []), from: "x", now: t + 1)
                }
            }
            t += 50
        }
        #expect(t >= 3_900 && t <= 4_500, "\(t)")
    }

    @Test func buddySystemTellsASuspectFirst() {
        var s = Self.instance(peers: ["b"])
        _ = s.receive(.gossip(source: "x", updates: [.suspect(name: "b", incarnation: 1, from: "x")]), from: "x", now: 0)
        let ds = Self.advance(&s, from: 0, to: 3_000)
        let pingToB = Self.sends(ds).first { if case .ping(_, "b", _, _) = $0.0 { true } else { false } }
        guard case .ping(_, _, _, let updates)? = pingToB?.0 else { Issue.record("b was not probed"); return }
        #expect(updates.first == .suspect(name: "b", incarnation: 1, from: "a"))
    }

    @Test func relayPingsTheTargetAndForwardsTheAckOrNacks() {
        var s = Self.instance()
        let ds = s.receive(.pingReq(seq: 77, target: "c", targetAddress: "c:7946", source: "b", updates: []), from: "b:7946", now: 0)
        guard case .ping(let local, "c", "a", _)? = Self.sends(ds).first?.0, Self.sends(ds).first?.1 == "c:7946" else {
            Issue.record("relay did not ping c"); return
        }
        let fwd = s.receive(.ack(seq: local, source: "c", updates: []), from: "c:7946", now: 5)
        #expect(Self.sends(fwd).contains { if case .ack(77, "c", _) = $0.0 { $0.1 == "b:7946" } else { false } })
        // a second request the target never answers gets a nack before the requester gives up
        _ = s.receive(.pingReq(seq: 78, target: "d", targetAddress: "d:7946", source: "b", updates: []), from: "b:7946", now: 10)
        let later = Self.advance(&s, from: 10, to: 600)
        #expect(Self.sends(later).contains { if case .nack(78, "a") = $0.0 { $0.1 == "b:7946" } else { false } })
    }

    @Test func nacksFromRelaysSpareThisNodesHealth() {
        var s = Self.instance()
        var t: Millis = 0
        var suspectedSomeone = false
        while t < 2_500 {
            for (m, to) in Self.sends(s.tick(now: t)) {
                if case .pingReq(let seq, _, _, _, _) = m { _ = s.receive(.nack(seq: seq, source: String(to.prefix(1))), from: to, now: t + 200) }
            }
            if s.members.values.contains(where: { $0.status == .suspect }) { suspectedSomeone = true; break }
            t += 10
        }
        #expect(suspectedSomeone)
        #expect(s.awareness == 0, "all relays nacked: the target is the problem, not this node")
    }

    @Test func awarenessStretchesTheProbeInterval() {
        var s = Self.instance()
        for i in 0..<3 { _ = s.receive(.gossip(source: "b", updates: [.suspect(name: "a", incarnation: s.incarnation, from: "b")]), from: "b", now: Millis(i)) }
        #expect(s.awareness == 3)
        let pings = Self.sends(Self.advance(&s, from: 0, to: 20_000)).filter { if case .ping = $0.0 { true } else { false } }
        // at awareness 3 the interval is 4 s (it may fall as probes succeed, but none are acked here,
        // and failed probes only raise it)
        #expect(pings.count <= 6, "\(pings.count) probes in 20 s")
    }

    @Test func leaveIsAnnouncedAndRecordedAsLeft() {
        var a = Self.instance("a")
        var b = Self.instance("b", peers: ["a", "c", "d", "e"])
        let ds = a.leave(now: 100)
        let gossips = Self.sends(ds)
        #expect(!gossips.isEmpty)
        #expect(a.tick(now: 5_000).isEmpty, "a node that left stops probing")
        let evs = Self.events(b.receive(gossips[0].0, from: "a:7946", now: 110))
        #expect(evs.map(\.kind) == [.left])
        #expect(b.members["a"]?.status == .left)
        // a left node is not chosen for push-pull
        for _ in 0..<20 { #expect(b.pushPullPeer()?.name != "a") }
    }

    @Test func pushPullMergeSuspectsInsteadOfKillingAndLearnsNewMembers() {
        var s = Self.instance()
        let remote = [MemberState(meta: Self.meta("c"), status: .dead, incarnation: 1),
                      MemberState(meta: Self.meta("z"), status: .alive, incarnation: 3)]
        let evs = Self.events(s.merge(remote, from: "b", now: 10))
        #expect(s.members["c"]?.status == .suspect)
        #expect(s.members["z"]?.status == .alive && s.members["z"]?.incarnation == 3)
        #expect(Set(evs.map(\.kind)) == [.suspected, .joined])
        // a dead member that comes back with a higher incarnation rejoins
        _ = s.receive(.gossip(source: "b", updates: [.dead(name: "d", incarnation: 1, from: "b")]), from: "b", now: 20)
        #expect(s.members["d"]?.status == .dead)
        let back = Self.events(s.receive(.gossip(source: "d", updates: [.alive(incarnation: 2, meta: Self.meta("d"))]), from: "d", now: 30))
        #expect(back.map(\.kind) == [.joined] && s.members["d"]?.status == .alive)
        // push-pull peers include dead members
        _ = s.receive(.gossip(source: "b", updates: [.dead(name: "e", incarnation: 1, from: "b")]), from: "b", now: 40)
        var seen: Set<String> = []
        for _ in 0..<200 { if let p = s.pushPullPeer() { seen.insert(p.name) } }
        #expect(seen.contains("e"), "a member believed dead is still tried by push-pull")
    }

    @Test func forceLeaveTurnsAFailedMemberIntoALeftOneEverywhere() throws {
        var a = Self.instance("a")
        var b = Self.instance("b", peers: ["a", "c", "d", "e"])
        #expect(throws: MeshError.self) { try a.forceLeave("c", now: 1) } // alive
        #expect(throws: MeshError.self) { try a.forceLeave("zz", now: 1) } // unknown
        for s in [0, 1] {
            let dead = Update.dead(name: "c", incarnation: 1, from: "x")
            if s == 0 { _ = a.receive(dead.asGossip, from: "x", now: 2) } else { _ = b.receive(dead.asGossip, from: "x", now: 2) }
        }
        let evs = Self.events(try a.forceLeave("c", now: 3))
        #expect(evs.map(\.kind) == [.left] && a.members["c"]?.status == .left)
        // the news reaches b, which also had c as dead
        var sent: [Message] = []
        var t: Millis = 3
        while sent.isEmpty && t < 2_000 { sent = Self.sends(a.tick(now: t)).map(\.0).filter { !$0.updates.isEmpty }; t += 10 }
        for m in sent { _ = b.receive(m, from: "a:7946", now: t) }
        #expect(b.members["c"]?.status == .left)
    }

    @Test func digestsAgreeExactlyWhenViewsAgree() {
        let a = Self.instance("a", peers: ["b", "c"])
        let b = Self.instance("b", peers: ["a", "c"])
        #expect(a.digest == b.digest)
        var c = Self.instance("c", peers: ["a", "b"])
        _ = c.receive(.gossip(source: "a", updates: [.suspect(name: "b", incarnation: 1, from: "a")]), from: "a", now: 1)
        #expect(c.digest != a.digest)
    }

    @Test func everyMessageFitsTheDatagramBudget() {
        var s = Self.instance()
        // a flood of news about 500 members, each with long tags
        for i in 0..<500 {
            let m = NodeMeta(name: "member-\(i)", id: String(repeating: "k", count: 60), publicKey: String(repeating: "p", count: 64),
                             address: "10.0.0.\(i % 250):7946", httpAddress: "10.0.0.\(i % 250):7780", version: "0.1.0",
                             tags: ["team": "team-\(i)", "site": "site-\(i % 7)", "capacity": "2"])
            _ = s.receive(.gossip(source: "b", updates: [.alive(incarnation: 1, meta: m)]), from: "b", now: 1)
        }
        var sizes: [Int] = []
        var t: Millis = 0
        while t < 5_000 {
            for (m, _) in Self.sends(s.tick(now: t)) { sizes.append(Wire.encode(m).count) }
            let acks = Self.sends(s.receive(.ping(seq: UInt32(t), target: "a", source: "b", updates: []), from: "b", now: t))
            sizes += acks.map { Wire.encode($0.0).count }
            t += 100
        }
        #expect(!sizes.isEmpty)
        #expect(sizes.allSatisfy { $0 + Wire.sealOverhead <= Wire.maxDatagram }, "largest \(sizes.max() ?? 0)")
        #expect(sizes.max()! > 800, "datagrams are filled with news")
    }
}

extension Update {
    var asGossip: Message { .gossip(source: "test", updates: [self]) }
}
