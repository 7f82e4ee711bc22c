#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SWIM membership with the Lifeguard extensions, as a pure state machine.
///
/// The instance does no I/O and reads no clock: the shell (or the simulator) calls `tick(now:)` at
/// or after `nextDeadline`, hands it every datagram with `receive(_:from:now:)`, and carries out the
/// returned directives (send this message to that address; report this event). Randomness comes
/// from a seeded generator, so a simulator run replays exactly.
///
/// - Probes: every probe interval one member (round robin over a shuffled list) is pinged; without
///   an ack within the probe timeout, `indirectChecks` members are asked to ping it; without any ack
///   by the end of the probe window the member is suspected.
/// - Suspicion: a suspected member refutes by raising its incarnation; unrefuted, it is declared
///   dead when the suspicion timeout ends.
/// - Lifeguard: a local health multiplier (awareness) stretches this node's probe interval and
///   timeouts when it sees signs that it is itself slow (missed nacks, refuting suspicions about
///   itself); suspicion timeouts start at `β·min` and shrink towards `min` as independent members
///   confirm the suspicion; a ping to a suspected member carries the suspicion (the buddy system)
///   so it can refute at once; relays answer nacks.
/// - Dissemination: updates are piggybacked on every message, each at most λ·⌈log10(n+1)⌉ times.
public struct SWIMInstance: Sendable {
    public struct Config: Sendable {
        public var probeInterval: Millis = 1000
        /// How long to wait for a direct ack before asking others to probe.
        public var probeTimeout: Millis = 300
        /// When, after the probe was sent, a member with no ack at all is suspected (≤ probeInterval).
        public var probeWindow: Millis = 800
        public var indirectChecks = 3
        /// λ: retransmit limit multiplier.
        public var retransmitMult = 4
        /// α: suspicion timeout minimum is α·max(1, log10 n)·probeInterval.
        public var suspicionMult = 4
        /// β: with Lifeguard, the timeout starts at β·minimum and shrinks with confirmations.
        public var suspicionMaxMult = 6
        /// Lifeguard's awareness ceiling (the local health multiplier is 0…max−1).
        public var awarenessMax = 8
        /// Lifeguard on (awareness, nacks, dynamic suspicion, buddy system) or plain SWIM.
        public var lifeguard = true
        /// Dead and left members are forgotten after this long.
        public var reapAfter: Millis = 24 * 3600 * 1000
        /// While there is news to spread, every `gossipInterval` it is also sent to `gossipFanout`
        /// random members (memberlist's gossip; probes alone carry news only about twice a period).
        /// With nothing to spread nothing is sent.
        public var gossipInterval: Millis = 200
        public var gossipFanout = 3
        /// Largest plaintext message (the sealed datagram stays ≤ 1,200 bytes).
        public var maxMessage = Wire.maxMessage
        public init() {}
    }

    public enum Directive: Sendable, Hashable {
        case send(Message, to: String)
        case event(MemberEvent)
    }

    struct Probe: Sendable {
        var seq: UInt32
        var target: String
        var sentAt: Millis
        var indirectAt: Millis
        var endsAt: Millis
        var acked = false
        var indirectSent = false
        var expectedNacks = 0
        var nacks = 0
    }

    struct Relay: Sendable {
        var requester: String
        var seq: UInt32
        var nackAt: Millis
    }

    struct Suspicion: Sendable {
        var start: Millis
        var incarnation: UInt64
        var confirmations: Set<String> = []
        var k: Int
        var min: Millis
        var max: Millis
        /// When it turns into a death; recomputed only when a confirmation arrives.
        private(set) var deadline: Millis = 0

        init(start: Millis, incarnation: UInt64, k: Int, min: Millis, max: Millis, lifeguard: Bool) {
            self.start = start; self.incarnation = incarnation; self.k = k; self.min = min; self.max = max
            deadline = timeout(lifeguard: lifeguard)
        }

        mutating func confirm(by node: String, lifeguard: Bool) {
            confirmations.insert(node)
            deadline = timeout(lifeguard: lifeguard)
        }

        private func timeout(lifeguard: Bool) -> Millis {
            guard lifeguard, k > 0 else { return start + (lifeguard ? max : min) }
            let c = Double(confirmations.count)
            let frac = log(c + 1) / log(Double(k) + 1)
            let timeout = Double(max) - Double(max - min) * frac
            return start + Swift.max(min, Millis(timeout.rounded(.down)))
        }
    }

    public let config: Config
    public internal(set) var me: NodeMeta
    public internal(set) var incarnation: UInt64
    /// Written only through `store` and `forget`, which keep the indexes below in step.
    public internal(set) var members: [String: Member] = [:]
    /// Member names in a deterministic order, for random picks without sorting (index = position).
    var names: [String] = []
    var position: [String: Int] = [:]
    var liveOthers = 0
    var nextReapAt: Millis = 0
    /// Lifeguard's local health multiplier (0 = healthy).
    public internal(set) var awareness = 0
    public internal(set) var leaving = false
    /// Round-trip time of the last direct probe answered by each member.
    public internal(set) var rtt: [String: Millis] = [:]

    var rng: SplitMix64
    var seq: UInt32 = 0
    var probe: Probe?
    var nextProbeAt: Millis
    var nextGossipAt: Millis
    var probeList: [String] = []
    var probeIndex = 0
    var relays: [UInt32: Relay] = [:]
    /// Written only through `setSuspicion`, which keeps `earliestSuspicion` (the soonest timeout)
    /// current, so scheduling does not scan every open suspicion on every message.
    var suspicions: [String: Suspicion] = [:]
    var earliestSuspicion: Millis = .max
    var broadcasts = Broadcasts()

    /// - Parameters:
    ///   - incarnation: start above any incarnation this node used before (the shell persists it, or
    ///     uses wall-clock seconds), so that a restarted node is not mistaken for its old, dead self.
    public init(me: NodeMeta, incarnation: UInt64 = 1, config: Config = Config(), seed: UInt64, now: Millis) {
        self.me = me
        self.incarnation = incarnation
        self.config = config
        rng = SplitMix64(seed: seed)
        // Spread first probes over the interval so a cluster started at once does not probe in step.
        nextProbeAt = now + Millis.random(in: 0..<max(1, config.probeInterval), using: &rng)
        nextGossipAt = now + Millis.random(in: 0..<max(1, config.gossipInterval), using: &rng)
        broadcasts.add(.alive(incarnation: incarnation, meta: me))
        refreshDeadline()
    }

    // MARK: views

    /// Members other than this node, including dead and left ones not yet reaped.
    public var others: [Member] { names.compactMap { members[$0] } }

    /// Everyone this node counts (itself included) that is alive or suspect.
    public var liveCount: Int { 1 + liveOthers }

    public var myself: Member { Member(meta: me, status: leaving ? .left : .alive, incarnation: incarnation, since: 0) }

    /// The earliest time `tick` has something to do (kept up to date by every mutating entry point,
    /// so a scheduler reads a stored value).
    public internal(set) var nextDeadline: Millis = 0

    mutating func refreshDeadline() {
        var d = nextProbeAt
        if !broadcasts.isEmpty && !leaving { d = min(d, nextGossipAt) }
        if let p = probe { d = min(d, p.indirectSent ? p.endsAt : p.indirectAt) }
        for r in relays.values { d = min(d, r.nackAt) }
        d = min(d, earliestSuspicion)
        nextDeadline = d
    }

    /// A digest of the member list (names, statuses, incarnations): equal digests on two nodes mean
    /// they see the same membership.
    public var digest: UInt64 {
        var all = members.values.map { "\($0.name)|\($0.status.rawValue)|\($0.incarnation)" }
        all.append("\(me.name)|\(leaving ? "left" : "alive")|\(incarnation)")
        var h: UInt64 = 0
        for s in all.sorted() { h = MeshHash.mix(h ^ MeshHash.of(s)) }
        return h
    }

    func scaled(_ t: Millis) -> Millis { config.lifeguard ? t * Millis(awareness + 1) : t }

    var retransmitLimit: Int {
        let n = Double(liveCount + 1)
        return config.retransmitMult * Int(log10(n).rounded(.up))
    }

    // MARK: events

    /// Runs whatever is due at `now`: probe steps, relay nacks, suspicion timeouts, reaping.
    public mutating func tick(now: Millis) -> [Directive] {
        defer { refreshDeadline() }
        var out: [Directive] = []
        guard !leaving else { return out }
        if var p = probe {
            if !p.acked && !p.indirectSent && now >= p.indirectAt {
                p.indirectSent = true
                if let target = members[p.target] {
                    let helpers = randomMembers(count: config.indirectChecks, excluding: [p.target])
                    p.expectedNacks = config.lifeguard ? helpers.count : 0
                    for h in helpers {
                        out.append(.send(.pingReq(seq: p.seq, target: p.target, targetAddress: target.meta.address, source: me.name,
                                                  updates: piggyback()), to: h.meta.address))
                    }
                }
            }
            probe = p
            if now >= p.endsAt {
                probe = nil
                finishProbe(p, now: now, into: &out)
            }
        }
        if probe == nil && now >= nextProbeAt {
            nextProbeAt = now + scaled(config.probeInterval)
            startProbe(now: now, into: &out)
        }
        if now >= nextGossipAt {
            nextGossipAt = now + config.gossipInterval
            if !broadcasts.isEmpty {
                for m in randomMembers(count: config.gossipFanout, excluding: [], live: true) {
                    let updates = piggyback()
                    if updates.isEmpty { break }
                    out.append(.send(.gossip(source: me.name, updates: updates), to: m.meta.address))
                }
            }
        }
        // (sorted: dictionary order differs between processes, and a simulator run must replay)
        for (s, r) in relays.sorted(by: { $0.key < $1.key }) where now >= r.nackAt {
            relays[s] = nil
            if config.lifeguard { out.append(.send(.nack(seq: r.seq, source: me.name), to: r.requester)) }
        }
        if now >= earliestSuspicion { expireSuspicions(now: now, into: &out) }
        if now >= nextReapAt {
            nextReapAt = now + 60_000
            for name in names.sorted() where members[name].map({ !$0.status.isLive && now - $0.since >= config.reapAfter }) == true { forget(name) }
        }
        return out
    }

    /// Handles one datagram from `address`.
    public mutating func receive(_ message: Message, from address: String, now: Millis) -> [Directive] {
        defer { refreshDeadline() }
        var out: [Directive] = []
        for u in message.updates { apply(u, now: now, into: &out) }
        guard !leaving else { return out }
        switch message {
        case .ping(let seq, let target, _, _):
            // A ping for a name that is not ours (a node that restarted elsewhere) gets no answer.
            if target == me.name { out.append(.send(.ack(seq: seq, source: me.name, updates: piggyback()), to: address)) }
        case .pingReq(let seq, let target, let targetAddress, _, _):
            let local = nextSeq()
            relays[local] = Relay(requester: address, seq: seq, nackAt: now + max(1, config.probeWindow - config.probeTimeout) * 4 / 5)
            out.append(.send(.ping(seq: local, target: target, source: me.name, updates: piggyback()), to: targetAddress))
        case .ack(let seq, let source, _):
            if let r = relays.removeValue(forKey: seq) {
                out.append(.send(.ack(seq: r.seq, source: source, updates: piggyback()), to: r.requester))
            } else if var p = probe, p.seq == seq, source == p.target, !p.acked {
                p.acked = true
                probe = p
                // A direct, timely ack is a sign of health (and a round-trip time); an indirect one is
                // neutral (Lifeguard).
                if !p.indirectSent {
                    rtt[source] = now - p.sentAt
                    adjustAwareness(-1)
                }
            }
        case .nack(let seq, _):
            if var p = probe, p.seq == seq { p.nacks += 1; probe = p }
        case .gossip:
            break
        }
        return out
    }

    /// Leaves gracefully: announces the leave to a few members at once (and on everything it still
    /// sends); the instance stops probing.
    public mutating func leave(now: Millis) -> [Directive] {
        defer { refreshDeadline() }
        guard !leaving else { return [] }
        leaving = true
        let u = Update.dead(name: me.name, incarnation: incarnation, from: me.name)
        broadcasts.add(u)
        return randomMembers(count: config.gossipFanout, excluding: []).map { .send(.gossip(source: me.name, updates: [u]), to: $0.meta.address) }
    }

    /// Serf's force-leave: a member that failed (dead or suspect) is recorded as having left, so it
    /// is no longer tried by push-pull, and the news is spread. An alive member cannot be forced out.
    public mutating func forceLeave(_ name: String, now: Millis) throws(MeshError) -> [Directive] {
        defer { refreshDeadline() }
        guard let m = members[name] else { throw MeshError("no member named \(name)", kind: .noSuchMember) }
        guard m.status != .alive else { throw MeshError("\(name) is alive; only a failed member can be forced to leave") }
        guard m.status != .left else { return [] }
        var out: [Directive] = []
        var dead = m
        dead.status = .dead // a suspect is declared dead first, then leaves
        store(dead)
        apply(.dead(name: name, incarnation: m.incarnation, from: name), now: now, into: &out)
        return out
    }

    /// Changes this node's metadata (tags, addresses) and announces it with a new incarnation.
    public mutating func update(meta: NodeMeta) {
        defer { refreshDeadline() }
        me = meta
        incarnation += 1
        broadcasts.add(.alive(incarnation: incarnation, meta: me))
    }

    mutating func store(_ m: Member) {
        if let old = members[m.name] {
            liveOthers += (m.status.isLive ? 1 : 0) - (old.status.isLive ? 1 : 0)
        } else {
            liveOthers += m.status.isLive ? 1 : 0
            position[m.name] = names.count
            names.append(m.name)
        }
        members[m.name] = m
    }

    mutating func forget(_ name: String) {
        guard let m = members.removeValue(forKey: name), let i = position.removeValue(forKey: name) else { return }
        if m.status.isLive { liveOthers -= 1 }
        let last = names.removeLast()
        if i < names.count { names[i] = last; position[last] = i }
    }

    mutating func expireSuspicions(now: Millis, into out: inout [Directive]) {
        let due = suspicions.filter { now >= $0.value.deadline }
        for name in due.keys { suspicions[name] = nil }
        earliestSuspicion = suspicions.values.reduce(Millis.max) { min($0, $1.deadline) }
        for (name, s) in due.sorted(by: { $0.key < $1.key }) {
            guard let m = members[name], m.status == .suspect, m.incarnation == s.incarnation else { continue }
            apply(.dead(name: name, incarnation: m.incarnation, from: me.name), now: now, into: &out)
        }
    }

    mutating func setSuspicion(_ name: String, _ value: Suspicion?) {
        let old = suspicions[name]
        suspicions[name] = value
        if let v = value, v.deadline < earliestSuspicion { earliestSuspicion = v.deadline; return }
        // the removed or lengthened one may have been the earliest: recompute
        if let old, old.deadline <= earliestSuspicion {
            earliestSuspicion = suspicions.values.reduce(Millis.max) { min($0, $1.deadline) }
        }
    }

    /// Forgets queued updates (a simulated cluster that starts fully joined has nothing to spread).
    public mutating func clearBroadcasts() { broadcasts = Broadcasts(); refreshDeadline() }

    // MARK: internals

    mutating func nextSeq() -> UInt32 { seq &+= 1; return seq }

    mutating func adjustAwareness(_ delta: Int) {
        guard config.lifeguard else { return }
        awareness = min(config.awarenessMax - 1, max(0, awareness + delta))
    }

    /// Updates for one message, after the bytes its fixed part needs.
    mutating func piggyback(reserve: Int = 96) -> [Update] {
        broadcasts.take(budget: config.maxMessage - reserve, limit: retransmitLimit)
    }

    /// Up to `count` distinct random members that are alive (or live: alive or suspect), not in
    /// `excluding`. Random picks from the name array, so the cost does not grow with the cluster.
    mutating func randomMembers(count: Int, excluding: Set<String>, live: Bool = false) -> [Member] {
        func ok(_ m: Member) -> Bool { (live ? m.status.isLive : m.status == .alive) && !excluding.contains(m.name) }
        guard count > 0, !names.isEmpty else { return [] }
        if names.count <= 4 * count + excluding.count {
            var pool = names.compactMap { members[$0] }.filter(ok)
            pool.shuffle(using: &rng)
            return Array(pool.prefix(count))
        }
        var out: [Member] = []
        var picked: Set<String> = []
        for _ in 0..<(count * 16) where out.count < count {
            let name = names[Int.random(in: 0..<names.count, using: &rng)]
            guard !picked.contains(name), let m = members[name], ok(m) else { continue }
            picked.insert(name)
            out.append(m)
        }
        return out
    }
}
