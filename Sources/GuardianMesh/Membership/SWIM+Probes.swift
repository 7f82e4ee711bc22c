#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Push-pull state syncs and the probe cycle: choosing a target, and concluding a probe.
extension SWIMInstance {

    /// A peer for the periodic full-state sync: any other member not known to have left, including
    /// the ones believed dead, so that a partition heals without an operator.
    public mutating func pushPullPeer() -> Member? {
        guard !names.isEmpty else { return nil }
        for _ in 0..<32 {
            if let m = members[names[Int.random(in: 0..<names.count, using: &rng)]], m.status != .left { return m }
        }
        return names.compactMap { members[$0] }.filter { $0.status != .left }.randomElement(using: &rng)
    }

    /// This node's full state for a push-pull exchange.
    public var state: [MemberState] {
        var all: [MemberState] = []
        all.reserveCapacity(names.count + 1)
        for n in names { if let m = members[n] { all.append(MemberState(meta: m.meta, status: m.status, incarnation: m.incarnation)) } }
        all.append(MemberState(meta: me, status: leaving ? .left : .alive, incarnation: incarnation))
        return all
    }

    /// Merges a peer's full state. A member the peer believes dead is only suspected here, so that
    /// it gets the chance to refute (memberlist does the same).
    public mutating func merge(_ remote: [MemberState], from peer: String, now: Millis) -> [Directive] {
        defer { refreshDeadline() }
        var out: [Directive] = []
        for s in remote {
            // Nothing new: the common case of a periodic sync between nodes that agree.
            if let m = members[s.meta.name], s.incarnation < m.incarnation
                || (s.incarnation == m.incarnation && s.status == m.status && s.status != .suspect) {
                continue
            }
            switch s.status {
            case .alive: apply(.alive(incarnation: s.incarnation, meta: s.meta), now: now, into: &out)
            case .suspect, .dead:
                if members[s.meta.name] == nil && s.meta.name != me.name {
                    // Learn about it first (as alive at that incarnation), then suspect it.
                    apply(.alive(incarnation: s.incarnation, meta: s.meta), now: now, into: &out)
                }
                apply(.suspect(name: s.meta.name, incarnation: s.incarnation, from: peer), now: now, into: &out)
            case .left: apply(.dead(name: s.meta.name, incarnation: s.incarnation, from: s.meta.name), now: now, into: &out)
            }
        }
        return out
    }

    mutating func startProbe(now: Millis, into out: inout [Directive]) {
        guard let target = nextProbeTarget() else { return }
        let s = nextSeq()
        var updates: [Update] = []
        // Buddy system: a suspected member hears about the suspicion first, so it can refute.
        if config.lifeguard, target.status == .suspect {
            updates.append(.suspect(name: target.name, incarnation: target.incarnation, from: me.name))
        }
        updates += piggyback(reserve: 96 + updates.reduce(0) { $0 + Wire.size(of: $1) })
        probe = Probe(seq: s, target: target.name, sentAt: now, indirectAt: now + scaled(config.probeTimeout),
                      endsAt: now + scaled(config.probeWindow))
        out.append(.send(.ping(seq: s, target: target.name, source: me.name, updates: updates), to: target.meta.address))
    }

    mutating func nextProbeTarget() -> Member? {
        for pass in 0..<2 {
            while probeIndex < probeList.count {
                let name = probeList[probeIndex]
                probeIndex += 1
                if let m = members[name], m.status.isLive { return m }
            }
            guard pass == 0 else { break }
            probeList = names.filter { members[$0]?.status.isLive == true }
            probeList.shuffle(using: &rng)
            probeIndex = 0
        }
        return nil
    }

    mutating func finishProbe(_ p: Probe, now: Millis, into out: inout [Directive]) {
        guard !p.acked else { return }
        // Lifeguard: relays that did not even nack suggest the problem is here, not at the target.
        if config.lifeguard {
            adjustAwareness(p.expectedNacks > 0 ? max(0, p.expectedNacks - p.nacks) : 1)
        }
        guard let m = members[p.target], m.status.isLive else { return }
        apply(.suspect(name: m.name, incarnation: m.incarnation, from: me.name), now: now, into: &out)
    }
}
