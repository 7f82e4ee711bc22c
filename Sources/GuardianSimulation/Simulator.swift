import GuardianMesh

/// A deterministic discrete-event simulator for membership: many `SWIMInstance`s and a message
/// router with seeded latency, loss, partitions, crashes and stalls (a stalled node is a SIGSTOPped
/// process: its timers fire late and its datagrams queue until it resumes). Push-pull syncs run
/// every `pushPullInterval` with a random peer, dead ones included. A run replays exactly from its
/// seed; a failing test prints the seed.
public struct Simulator {
    public struct Config: Sendable {
        public var nodes = 100
        public var seed: UInt64 = 1
        public var swim = SWIMInstance.Config()
        /// One-way latency, uniform in this range.
        public var latency: ClosedRange<Millis> = 1...5
        /// Fraction of datagrams lost at random.
        public var loss = 0.0
        public var pushPullInterval: Millis = 30_000
        /// Start with every node knowing every other (as after a completed join), instead of all
        /// joining through node 0.
        public var bootstrapped = true
        /// Encode every datagram to count bytes (for the figures; costs time).
        public var countBytes = false
        public init() {}
    }

    enum Kind: UInt8 { case deliver, tick, pushPull, resume }

    /// A plain value (no references), so the heap moves events without retain/release; a delivered
    /// message waits in `inFlight` under `slot`.
    struct Event {
        var time: Millis
        var order: UInt64
        var kind: Kind
        var node: Int32
        var from: Int32 = -1
        var slot: Int32 = -1
    }

    public let config: Config
    public private(set) var now: Millis = 0
    public private(set) var instances: [SWIMInstance] = []
    public private(set) var crashed: [Bool]
    public private(set) var stalledUntil: [Millis]
    /// Partition group per node; datagrams and syncs between different groups are dropped.
    public var group: [Int]
    /// Datagrams delivered, dropped, and bytes sent (encoded size), for the figures.
    public private(set) var delivered = 0, dropped = 0, bytes = 0
    public private(set) var pushPulls = 0
    /// Called for every membership event: (observer node, event).
    public var onEvent: ((Int, MemberEvent) -> Void)?

    private var queue = Heap()
    private var order: UInt64 = 0
    private var rng: SplitMix64
    private var scheduledTick: [Millis]
    private var pending: [[(Message, String)]]
    private var inFlight: [Message?] = []
    private var freeSlots: [Int32] = []
    private let index: [String: Int]
    private let names: [String]

    public static func name(_ i: Int) -> String { "node-\(i)" }

    public init(config: Config) {
        self.config = config
        rng = SplitMix64(seed: config.seed)
        let n = config.nodes
        crashed = Array(repeating: false, count: n)
        stalledUntil = Array(repeating: 0, count: n)
        group = Array(repeating: 0, count: n)
        scheduledTick = Array(repeating: .max, count: n)
        pending = Array(repeating: [], count: n)
        var idx: [String: Int] = [:]
        for i in 0..<n { idx[Self.name(i)] = i }
        index = idx
        names = (0..<n).map(Self.name)
        let metas = (0..<n).map { NodeMeta(name: Self.name($0), address: Self.name($0), tags: ["capacity": "1"]) }
        for i in 0..<n {
            instances.append(SWIMInstance(me: metas[i], incarnation: 1, config: config.swim, seed: rng.next(), now: 0))
        }
        if config.bootstrapped {
            let all = metas.map { MemberState(meta: $0, status: .alive, incarnation: 1) }
            for i in 0..<n { _ = instances[i].merge(all, from: Self.name(i), now: 0) }
            // the join news is already everywhere: drop it from the piggyback queues
            for i in 0..<n { instances[i].clearBroadcasts() }
        } else {
            for i in 1..<n { syncPair(i, 0) }
        }
        for i in 0..<n {
            schedule(at: instances[i].nextDeadline, node: i)
            push(Event(time: Millis.random(in: 1...config.pushPullInterval, using: &rng), order: 0, kind: .pushPull, node: Int32(i)))
        }
    }

    // MARK: faults

    public mutating func crash(_ i: Int) { crashed[i] = true; pending[i] = [] }

    /// Stops node `i` until `now + duration`, as SIGSTOP would.
    public mutating func stall(_ i: Int, for duration: Millis) {
        guard !crashed[i], stalledUntil[i] <= now else { return }
        stalledUntil[i] = now + duration
        push(Event(time: now + duration, order: 0, kind: .resume, node: Int32(i)))
    }

    /// Cuts the cluster into groups (node → group); `heal()` joins them again.
    public mutating func partition(_ groups: [Int]) { group = groups }
    public mutating func heal() { group = Array(repeating: 0, count: config.nodes) }

    // MARK: running

    /// Runs events until `time`.
    public mutating func run(until time: Millis) {
        while let e = queue.peek, e.time <= time {
            _ = queue.pop()
            now = e.time
            handle(e)
        }
        now = time
    }

    /// Runs until `condition` holds (checked every `step` of simulated time) or `limit` passes;
    /// returns the time it held, or nil.
    public mutating func run(until limit: Millis, checkEvery step: Millis = 10, _ condition: (Simulator) -> Bool) -> Millis? {
        var t = now
        while t < limit {
            t = min(limit, t + step)
            run(until: t)
            if condition(self) { return now }
        }
        return nil
    }

    /// True when every running node sees every other running node with the given status filter.
    public func converged(_ ok: (MemberStatus) -> Bool = { $0 == .alive }) -> Bool {
        for i in 0..<config.nodes where !crashed[i] {
            for j in 0..<config.nodes where j != i && !crashed[j] {
                guard let m = instances[i].members[names[j]], ok(m.status) else { return false }
            }
        }
        return true
    }

    public mutating func apply(_ i: Int, _ body: (inout SWIMInstance) -> [SWIMInstance.Directive]) {
        let ds = body(&instances[i])
        carryOut(ds, from: i)
        reschedule(i)
    }

    // MARK: internals

    private mutating func push(_ e: Event) {
        order += 1
        var e = e
        e.order = order
        queue.push(e)
    }

    private mutating func schedule(at t: Millis, node i: Int) {
        let when = max(t, now + 1)
        guard when < scheduledTick[i] || scheduledTick[i] <= now else { return }
        scheduledTick[i] = when
        push(Event(time: when, order: 0, kind: .tick, node: Int32(i)))
    }

    private mutating func reschedule(_ i: Int) {
        schedule(at: instances[i].nextDeadline, node: i)
    }

    private func available(_ i: Int) -> Bool { !crashed[i] && stalledUntil[i] <= now }

    private mutating func handle(_ e: Event) {
        let i = Int(e.node)
        switch e.kind {
        case .tick:
            guard e.time == scheduledTick[i] else { return }
            scheduledTick[i] = .max
            guard available(i) else { return } // crashed, or stalled (resume() ticks it)
            let ds = instances[i].tick(now: now)
            carryOut(ds, from: i)
            reschedule(i)
        case .deliver:
            let m = inFlight[Int(e.slot)]!
            inFlight[Int(e.slot)] = nil
            freeSlots.append(e.slot)
            let from = names[Int(e.from)]
            guard !crashed[i] else { dropped += 1; return }
            if stalledUntil[i] > now { pending[i].append((m, from)); return }
            delivered += 1
            let ds = instances[i].receive(m, from: from, now: now)
            carryOut(ds, from: i)
            reschedule(i)
        case .pushPull:
            push(Event(time: now + config.pushPullInterval, order: 0, kind: .pushPull, node: e.node))
            guard available(i), let peer = instances[i].pushPullPeer(), let j = index[peer.name] else { return }
            guard available(j), group[i] == group[j] else { return } // the TCP connection fails
            syncPair(i, j)
        case .resume:
            guard !crashed[i], stalledUntil[i] <= now else { return }
            let queued = pending[i]
            pending[i] = []
            for (m, from) in queued {
                delivered += 1
                carryOut(instances[i].receive(m, from: from, now: now), from: i)
            }
            carryOut(instances[i].tick(now: now), from: i)
            scheduledTick[i] = .max
            reschedule(i)
        }
    }

    private mutating func syncPair(_ i: Int, _ j: Int) {
        pushPulls += 1
        let a = instances[i].state, b = instances[j].state
        carryOut(instances[j].merge(a, from: names[i], now: now), from: j)
        carryOut(instances[i].merge(b, from: names[j], now: now), from: i)
        reschedule(i)
        reschedule(j)
    }

    private mutating func carryOut(_ ds: [SWIMInstance.Directive], from i: Int) {
        for d in ds {
            switch d {
            case .event(let ev): onEvent?(i, ev)
            case .send(let m, let to):
                if config.countBytes { bytes += Wire.encode(m).count + Wire.sealOverhead }
                guard let j = index[to], group[i] == group[j] else { dropped += 1; continue }
                if config.loss > 0, Double.random(in: 0..<1, using: &rng) < config.loss { dropped += 1; continue }
                let delay = Millis.random(in: config.latency, using: &rng)
                let slot: Int32
                if let free = freeSlots.popLast() { slot = free; inFlight[Int(slot)] = m } else { slot = Int32(inFlight.count); inFlight.append(m) }
                push(Event(time: now + delay, order: 0, kind: .deliver, node: Int32(j), from: Int32(i), slot: slot))
            }
        }
    }
}

/// A binary min-heap of events by (time, insertion order): equal times run in the order they were
/// scheduled, so runs are deterministic.
struct Heap {
    private var items: [Simulator.Event] = []
    var peek: Simulator.Event? { items.first }

    private static func less(_ a: Simulator.Event, _ b: Simulator.Event) -> Bool {
        a.time != b.time ? a.time < b.time : a.order < b.order
    }

    mutating func push(_ e: Simulator.Event) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.less(items[i], items[p]) else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> Simulator.Event? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && Self.less(items[l], items[m]) { m = l }
                if r < items.count && Self.less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
