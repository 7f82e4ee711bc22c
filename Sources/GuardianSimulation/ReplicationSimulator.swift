import GuardianMesh

/// A deterministic simulator for result replication: nodes that audit (a new result is acknowledged
/// once it is in the node's own durable set), push to the other owners, keep hints for owners they
/// cannot reach, hand them off, and run `ResultSync` anti-entropy sessions, with every message
/// encoded and decoded as on the wire, under a seeded fault schedule: partitions, crashes and
/// restarts, lost and duplicated messages, clock skew. At the end the faults heal and the run checks
/// that every acknowledged result is on every owner. A run replays exactly from its seed.
public struct ReplicationSimulator {
    public struct Config: Sendable {
        public var nodes = 5
        public var projects = 12
        public var replicationFactor = 3
        public var seed: UInt64 = 1
        /// Simulated seconds with faults, then the healing phase.
        public var steps = 300
        /// Audits per step, across the mesh.
        public var auditsPerStep = 2
        /// Probability that a message (a push, a hand-off, one frame of a session) is lost.
        public var loss = 0.05
        /// Probability that a session frame is delivered twice.
        public var duplication = 0.05
        /// Anti-entropy every this many steps; hand-offs every step.
        public var antiEntropyEvery = 5
        /// Hints older than this (by the holder's own clock, which may be skewed) are dropped.
        public var hintWindow = 30
        /// Chances per step of a partition starting, a crash, a clock jump.
        public var partitionChance = 0.02
        public var crashChance = 0.02
        public var skewChance = 0.02
        /// Envelope sizes, uniform in this range (bytes).
        public var envelopeBytes: ClosedRange<Int> = 2_000...40_000
        public init() {}
    }

    public struct Report: Sendable {
        public var acknowledged = 0
        /// Acknowledged results missing from at least one owner after healing (the bar is 0).
        public var lost = 0
        /// Owners whose set differs from another owner's of the same project after healing.
        public var divergent = 0
        public var sessions = 0, abortedSessions = 0, hintsDelivered = 0, hintsExpired = 0
        public var partitions = 0, crashes = 0, skews = 0
        public var healingRounds = 0
        public init() {}
    }

    struct Node {
        var ids = IDSet([String]())
        var up = true
        var downUntil = 0
        var clockSkew = 0
        var hints: [String: [String: Int]] = [:] // owner → id → local time stored
    }

    public let config: Config
    private var rng: SplitMix64
    private var nodes: [Node]
    private var group: [Int]
    private var partitionUntil = 0
    private var now = 0
    /// Every result ever made: its project and envelope size.
    private var project: [String: String] = [:]
    private var size: [String: Int] = [:]
    private var acked: [String] = []
    private let ring: Ring
    private let projects: [String]
    public private(set) var report = Report()

    public init(_ config: Config) {
        self.config = config
        rng = SplitMix64(seed: config.seed)
        nodes = Array(repeating: Node(), count: config.nodes)
        group = Array(repeating: 0, count: config.nodes)
        ring = Ring(nodes: (0..<config.nodes).map { Ring.Node(name: Self.name($0)) })
        projects = (0..<config.projects).map { "project-\($0)" }
    }

    static func name(_ i: Int) -> String { "node-\(i)" }
    static func index(_ name: String) -> Int { Int(name.dropFirst(5))! }

    func owners(_ p: String) -> [Int] { ring.owners(of: p, count: config.replicationFactor).map(Self.index) }
    func reachable(_ a: Int, _ b: Int) -> Bool { nodes[a].up && nodes[b].up && group[a] == group[b] }
    mutating func chance(_ p: Double) -> Bool { p > 0 && Double.random(in: 0..<1, using: &rng) < p }

    /// Runs the schedule, heals, converges, and checks.
    public mutating func run() -> Report {
        for _ in 0..<config.steps {
            now += 1
            faults()
            for _ in 0..<config.auditsPerStep { audit() }
            handOff()
            if now % config.antiEntropyEvery == 0 { antiEntropyRound(lossy: true) }
        }
        // heal: everyone up, one partition, then anti-entropy until nothing moves
        for i in nodes.indices { nodes[i].up = true }
        group = Array(repeating: 0, count: config.nodes)
        for round in 1...20 {
            report.healingRounds = round
            now += 1
            handOff()
            if !antiEntropyRound(lossy: false) { break }
        }
        check()
        return report
    }

    private mutating func faults() {
        for i in nodes.indices where !nodes[i].up && now >= nodes[i].downUntil { nodes[i].up = true } // restart
        if now >= partitionUntil && group.contains(where: { $0 != 0 }) { group = Array(repeating: 0, count: config.nodes) }
        if chance(config.partitionChance) {
            report.partitions += 1
            partitionUntil = now + Int.random(in: 5...60, using: &rng)
            for i in group.indices { group[i] = Int.random(in: 0...1, using: &rng) }
        }
        if chance(config.crashChance) {
            let i = Int.random(in: 0..<config.nodes, using: &rng)
            if nodes[i].up {
                report.crashes += 1
                nodes[i].up = false
                nodes[i].downUntil = now + Int.random(in: 1...80, using: &rng)
            }
        }
        if chance(config.skewChance) {
            report.skews += 1
            nodes[Int.random(in: 0..<config.nodes, using: &rng)].clockSkew = Int.random(in: -20...20, using: &rng)
        }
    }

    private func localTime(_ i: Int) -> Int { now + nodes[i].clockSkew }

    /// An owner that is up audits a project: the result is acknowledged once it is in its own set
    /// (durable), then pushed to the other owners; those it cannot reach get hints.
    private mutating func audit() {
        let p = projects[Int.random(in: 0..<projects.count, using: &rng)]
        let owners = owners(p)
        guard let at = owners.filter({ nodes[$0].up }).randomElement(using: &rng) else { return }
        var id = ""
        for _ in 0..<4 { id += String(rng.next(), radix: 16).leftPadded(16) }
        project[id] = p
        size[id] = Int.random(in: config.envelopeBytes, using: &rng)
        nodes[at].ids.insert(id)
        acked.append(id)
        report.acknowledged += 1
        for o in owners where o != at {
            if reachable(at, o) && !chance(config.loss) {
                deliver([record(id)], to: o)
            } else {
                nodes[at].hints[Self.name(o), default: [:]][id] = localTime(at)
            }
        }
    }

    func record(_ id: String) -> ResultSync.Record {
        ResultSync.Record(project: project[id]!, createdAt: 0, envelope: Array(id.utf8) + [UInt8](repeating: 0, count: max(0, size[id]! - 64)))
    }

    static func id(of r: ResultSync.Record) -> String { String(decoding: r.envelope.prefix(64), as: UTF8.self) }

    /// A push or hand-off as on the wire (encoded, decoded); stored by the receiver.
    private mutating func deliver(_ records: [ResultSync.Record], to o: Int) {
        guard case .push(let rs)? = try? ResultSync.decode(ResultSync.push(records).encode()) else { return }
        for r in rs { nodes[o].ids.insert(Self.id(of: r)) }
    }

    private mutating func handOff() {
        for i in nodes.indices where nodes[i].up {
            for (owner, hinted) in nodes[i].hints.sorted(by: { $0.key < $1.key }) {
                var left = hinted
                for (id, at) in hinted where localTime(i) - at > config.hintWindow {
                    left[id] = nil
                    report.hintsExpired += 1
                }
                let o = Self.index(owner)
                if !left.isEmpty && reachable(i, o) && !chance(config.loss) {
                    deliver(left.keys.sorted().map(record), to: o)
                    report.hintsDelivered += left.count
                    left = [:]
                }
                nodes[i].hints[owner] = left.isEmpty ? nil : left
            }
        }
    }

    /// Every pair of owners that can reach each other syncs the projects they share. True when any
    /// session moved records.
    @discardableResult
    private mutating func antiEntropyRound(lossy: Bool) -> Bool {
        var moved = false
        for i in nodes.indices {
            for j in nodes.indices where j != i && reachable(i, j) {
                let scope = projects.filter { let o = owners($0); return o.contains(i) && o.contains(j) }.sorted()
                guard !scope.isEmpty else { continue }
                report.sessions += 1
                let s = session(i, j, scope: scope, lossy: lossy)
                if s.aborted { report.abortedSessions += 1 }
                if s.moved > 0 { moved = true }
            }
        }
        return moved
    }

    func ids(_ i: Int, scope: [String]) -> IDSet {
        let inScope = Set(scope)
        return IDSet(nodes[i].ids.ids.filter { inScope.contains(project[$0]!) })
    }

    /// Bytes one session moved.
    public struct SessionBytes: Sendable { public var frames = 0, records = 0, moved = 0, aborted = false }

    /// One anti-entropy session from `i` to `j`, driven by the shipped state machines
    /// (`ResultSessionInitiator` on `i`, `ResultSessionResponder` on `j`), every frame encoded and
    /// decoded. A lost frame aborts it (what each side stored stays stored); a duplicated one is
    /// handled twice by the responder.
    mutating func session(_ i: Int, _ j: Int, scope: [String], lossy: Bool) -> SessionBytes {
        var bytes = SessionBytes()
        var initiator = ResultSessionInitiator(from: Self.name(i), scope: scope)
        var responder = ResultSessionResponder()
        var directive = initiator.start(digest: ids(i, scope: scope).digest)
        for _ in 0..<ResultSession.maxRounds {
            switch directive {
            case .send(let message, _):
                guard let delivered = wire(message, lossy: lossy, &bytes) else { return bytes }
                var answer: ResultSync?
                for _ in 0..<(lossy && chance(config.duplication) ? 2 : 1) {
                    answer = respond(&responder, to: delivered, on: j, peer: i, &bytes)
                }
                guard let answer, let back = wire(answer, lossy: lossy, &bytes) else { return bytes }
                directive = initiator.receive(back)
            case .need(let need):
                directive = initiator.provide(fulfil(need, on: i, peer: j, &bytes))
            case .finished, .refuse:
                return bytes
            }
        }
        return bytes
    }

    /// A message as on the wire: encoded, counted with its seal (header, nonce, tag), maybe lost, decoded.
    private mutating func wire(_ m: ResultSync, lossy: Bool, _ bytes: inout SessionBytes) -> ResultSync? {
        let encoded = m.encode()
        bytes.frames += encoded.count + 40
        if lossy && chance(config.loss) { bytes.aborted = true; return nil }
        return try? ResultSync.decode(encoded)
    }

    /// The responder's answer to one message, its needs met from node `x`'s state.
    private mutating func respond(_ responder: inout ResultSessionResponder, to message: ResultSync, on x: Int, peer: Int,
                                  _ bytes: inout SessionBytes) -> ResultSync? {
        var directive = responder.receive(message)
        while case .need(let need) = directive { directive = responder.provide(fulfil(need, on: x, peer: peer, &bytes)) }
        guard case .send(let reply, _) = directive else { return nil }
        return reply
    }

    /// What a session needs of node `x`, as the agent's shell answers it from its store.
    private mutating func fulfil(_ need: ResultSession.Need, on x: Int, peer: Int, _ bytes: inout SessionBytes) -> ResultSession.Answer {
        switch need {
        case .sharedScope:
            return .scope(projects.filter { let o = owners($0); return o.contains(x) && o.contains(peer) }.sorted())
        case .registered(let theirs):
            return .scope(theirs.sorted())
        case .digest(let scope):
            return .digest(ids(x, scope: scope).digest)
        case .ids(let scope):
            return .ids(ids(x, scope: scope))
        case .records(let wanted):
            let (records, consumed) = budgeted(wanted)
            return .records(records, consumed: consumed)
        case .store(let records):
            let stored = records.map(Self.id)
            for id in stored { nodes[x].ids.insert(id) }
            bytes.records += records.reduce(0) { $0 + $1.envelope.count }
            bytes.moved += records.count
            return .stored(ids: stored, refused: 0)
        }
    }

    /// Records for ids until 8 MB, as the shell sends them.
    func budgeted(_ ids: [String]) -> ([ResultSync.Record], Int) {
        var out: [ResultSync.Record] = [], bytes = 0
        for id in ids {
            let s = size[id]!
            if !out.isEmpty && bytes + s > 8 << 20 { break }
            bytes += s
            out.append(record(id))
        }
        return (out, out.count)
    }

    private mutating func check() {
        for id in acked {
            let p = project[id]!
            if owners(p).contains(where: { !nodes[$0].ids.contains(id) }) { report.lost += 1 }
        }
        for p in projects {
            let sets = owners(p).map { ids($0, scope: [p]).digest }
            if Set(sets).count > 1 { report.divergent += 1 }
        }
    }

    // MARK: for tests and the benchmark

    /// Adds results to a node directly (a test's starting state).
    public mutating func seed(node i: Int, project p: String, count: Int, bytes: Int) -> [String] {
        (0..<count).map { _ in
            var id = ""
            for _ in 0..<4 { id += String(rng.next(), radix: 16).leftPadded(16) }
            project[id] = p
            size[id] = bytes
            nodes[i].ids.insert(id)
            return id
        }
    }

    public mutating func copy(_ ids: [String], to i: Int) { for id in ids { nodes[i].ids.insert(id) } }

    /// One lossless session from `i` to `j` over `scope`: the bytes it moved.
    public mutating func sync(_ i: Int, _ j: Int, scope: [String]) -> SessionBytes { session(i, j, scope: scope, lossy: false) }

    public func digest(node i: Int, scope: [String]) -> SetDigest { ids(i, scope: scope).digest }
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
