#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How updates change the membership view: refutations, and alive, suspect and dead news.
extension SWIMInstance {
    mutating func refute(_ seen: UInt64) {
        incarnation = max(incarnation, seen) + 1
        broadcasts.add(.alive(incarnation: incarnation, meta: me))
        adjustAwareness(1)
    }

    /// Applies one membership update (gossiped, or this node's own conclusion) and says what changed.
    mutating func apply(_ u: Update, now: Millis, into out: inout [Directive]) {
        switch u {
        case .alive(let inc, let meta): applyAlive(u, incarnation: inc, meta: meta, now: now, into: &out)
        case .suspect(let name, let inc, let from): applySuspect(u, name: name, incarnation: inc, from: from, now: now, into: &out)
        case .dead(let name, let inc, let from): applyDead(u, name: name, incarnation: inc, from: from, now: now, into: &out)
        }
    }

    mutating func applyAlive(_ u: Update, incarnation inc: UInt64, meta: NodeMeta, now: Millis, into out: inout [Directive]) {
        if meta.name == me.name {
            // Someone announces us with our incarnation or newer but other data: say who we are.
            if inc > incarnation || (inc == incarnation && meta != me) { refute(inc) }
            return
        }
        if let m = members[meta.name] {
            guard inc > m.incarnation else { return }
            let kind: MemberEvent.Kind = m.status == .suspect ? .recovered : (m.status.isLive ? .updated : .joined)
            let changed = m.status != .alive || m.meta != meta
            store(Member(meta: meta, status: .alive, incarnation: inc, since: m.status == .alive ? m.since : now))
            setSuspicion(meta.name, nil)
            broadcasts.add(u)
            if changed, let nm = members[meta.name] { out.append(.event(MemberEvent(kind: kind, member: nm, at: now))) }
        } else {
            let m = Member(meta: meta, status: .alive, incarnation: inc, since: now)
            store(m)
            broadcasts.add(u)
            // A newcomer joins the probe rotation at a random place.
            probeList.insert(meta.name, at: Int.random(in: probeIndex...probeList.count, using: &rng))
            out.append(.event(MemberEvent(kind: .joined, member: m, at: now)))
        }
    }

    mutating func applySuspect(_ u: Update, name: String, incarnation inc: UInt64, from: String, now: Millis, into out: inout [Directive]) {
        if name == me.name {
            if !leaving && inc >= incarnation { refute(inc) }
            return
        }
        guard var m = members[name], inc >= m.incarnation, m.status.isLive else { return }
        if m.status == .suspect, inc == m.incarnation {
            // An independent confirmation shortens the timeout; pass it on.
            if var s = suspicions[name], from != me.name, !s.confirmations.contains(from), s.confirmations.count < s.k {
                s.confirm(by: from, lifeguard: config.lifeguard)
                setSuspicion(name, s)
                broadcasts.add(u)
            }
            return
        }
        m.status = .suspect
        m.incarnation = inc
        m.since = now
        store(m)
        let n = Double(liveCount)
        let minTimeout = Millis(Double(config.suspicionMult) * max(1, log10(n)) * Double(config.probeInterval))
        var k = config.suspicionMult - 2
        if liveCount - 2 < k { k = 0 }
        setSuspicion(name, Suspicion(start: now, incarnation: inc, k: k, min: minTimeout,
                                     max: minTimeout * Millis(config.suspicionMaxMult), lifeguard: config.lifeguard))
        broadcasts.add(u)
        out.append(.event(MemberEvent(kind: .suspected, member: m, at: now)))
    }

    mutating func applyDead(_ u: Update, name: String, incarnation inc: UInt64, from: String, now: Millis, into out: inout [Directive]) {
        if name == me.name {
            if from != me.name && !leaving && inc >= incarnation { refute(inc) }
            return
        }
        // A leave (from == name) also turns a dead member into a left one (force-leave).
        guard var m = members[name], inc >= m.incarnation, m.status.isLive || (from == name && m.status == .dead) else { return }
        m.status = from == name ? .left : .dead
        m.incarnation = inc
        m.since = now
        store(m)
        setSuspicion(name, nil)
        broadcasts.add(u)
        if probe?.target == name { probe = nil }
        out.append(.event(MemberEvent(kind: m.status == .left ? .left : .died, member: m, at: now)))
    }
}
