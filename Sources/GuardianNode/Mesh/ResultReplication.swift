import Foundation
import GuardianStore
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Metrics
import NIOCore
import ServiceLifecycle

/// Result replication between the owners of each project (docs/mesh.md, "Results"):
///
/// - **push**: a new signed result goes to every other owner at once; an owner that is down or does
///   not store it gets a **hint**, kept in SQLite and handed off when the owner is back (within
///   `hint_window_seconds`).
/// - **anti-entropy**: every `anti_entropy_seconds` (and soon after a membership change) this node
///   compares the result sets of the projects it shares with each member (`ResultSync`) and both
///   sides receive what they lack. A node that no longer owns a project hands its results to the
///   owners and drops them only once every owner has confirmed holding them.
/// - **read repair**: reading a project's results on an owner starts a sync of that project with the
///   other owners; a stored record whose bytes no longer hash to its id is removed and fetched again.
/// - a **scrub** checks stored records against their ids a few hundred at a time.
///
/// Every record received is verified against its signer's member key before it is stored.
///
/// A service of its own beside the membership shell (`MeshShell`): it owns the replication state
/// (handoffs, the session schedule, read-repair times, the scrub cursor) and reaches members
/// through the shell's streams; the shell hands it the results streams members open.
public actor ResultReplication: Service {
    /// What replication needs from the node.
    public struct Storage: Sendable {
        public let store: Store
        /// Public keys of signers this node can vouch for beyond the members (imported results'), sent with their records.
        public let keys: @Sendable () -> [String: VerifyingKey]
        public let storeVerified: @Sendable ([ResultSync.Record], [String: VerifyingKey]) async -> (stored: [String], refused: Int)
        public init(store: Store, keys: @escaping @Sendable () -> [String: VerifyingKey],
                    storeVerified: @escaping @Sendable ([ResultSync.Record], [String: VerifyingKey]) async -> (stored: [String], refused: Int)) {
            self.store = store
            self.keys = keys
            self.storeVerified = storeVerified
        }
    }

    let mesh: MeshShell
    let storage: Storage
    let config: AgentConfig
    let logger: Logger
    let clock = MonotonicMillis()
    /// Projects this node no longer owns, and which owners confirmed holding their results.
    var handoffs: HandoffPlanner
    /// Anti-entropy sessions: which run, and which members the current cycle still owes one.
    var sessions = SessionSchedule(parallel: ResultReplication.parallelSessions)
    /// A session ended while members were waiting for one: a catch-up round is due.
    var catchUpDue = false
    /// When each project was last read-repaired.
    var lastRepair: [String: Millis] = [:]
    /// Per peer, when the last anti-entropy session with it ended (wall time) and how.
    var lastSessions: [String: (at: Double, outcome: String)] = [:]

    /// The last anti-entropy session with each peer (the dashboard's replication health).
    public func sessionHistory() -> [String: (at: Double, outcome: String)] { lastSessions }
    /// Where the scrub continues (a result seq).
    var scrubCursor: Int64 = 0
    /// Bumped when corrupt records were removed: anti-entropy runs soon after, as after a membership change.
    var corruptionVersion = 0

    public init(mesh: MeshShell, storage: Storage, config: AgentConfig, logger: Logger) {
        self.mesh = mesh
        self.storage = storage
        self.config = config
        self.logger = logger
        handoffs = HandoffPlanner(me: config.name, grace: Millis(config.handoffGraceSeconds) * 1000)
    }

    /// Hands hints off and runs anti-entropy until the node shuts down. Pushes and the results
    /// streams members open are served whenever they come (`pushResult`, `serveResults`).
    public func run() async throws {
        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await self.handoffLoop() }
            tasks.addTask { await self.antiEntropyLoop() }
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
    }

    func mono() -> Millis { clock.now() }

    /// Keys to send with records: the members' and those the node vouches for.
    func outgoingKeys() async -> [String: VerifyingKey] { storage.keys().merging(await mesh.signerKeys()) { _, member in member } }

    /// Bytes of envelopes carried in one message.
    static let recordBudget = 8 << 20
    /// Anti-entropy sessions a round runs at once (each with a different member).
    static let parallelSessions = 4

    // MARK: push and hints

    /// Sends a new signed result to every other owner, those of the live ring and those it would have
    /// with the dead members back; owners that are down or do not answer "stored" get a hint.
    public func pushResult(_ r: ResultRecord) async {
        let (owners, intended, live) = await mesh.placement(of: r.projectId)
        var others = owners.filter { $0 != config.name }
        for o in intended where o != config.name && !others.contains(o) { others.append(o) }
        guard !others.isEmpty else { return }
        let identity = mesh.identity
        let frame = await mesh.sealed(.results, ResultSync.push([ResultSync.Record(project: r.projectId, createdAt: r.createdAt, envelope: [UInt8](r.envelope),
                                                                        signerKey: r.signer == identity.nodeID.value ? identity.bytes : [])]).encode())
        let reachable = others.compactMap { live[$0] }
        let stored = await mesh.send(frame, as: .results, to: reachable)
        Metrics.Counter(label: "guardian_results_pushed_total").increment(by: stored.count)
        let missed = others.filter { live[$0].map { !stored.contains($0) } ?? true }
        guard !missed.isEmpty else { return }
        for owner in missed {
            do { try storage.store.addHints(owner: owner, results: [r.id], at: Date().timeIntervalSince1970) } catch {
                logger.warning("mesh: cannot keep a hint for \(owner); anti-entropy will repair it", metadata: ["error": "\(error)"])
            }
        }
        Metrics.Counter(label: "guardian_hints_stored_total").increment(by: missed.count)
        logger.info("mesh: result \(r.id.prefix(12)) kept as a hint for \(missed.joined(separator: ", "))")
    }

    /// Hands hinted results to owners that are alive again, 256 at a time; drops hints older than
    /// the hint window. Runs every 2 s.
    func handoffLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            let window = Double(config.hintWindowSeconds)
            if let expired = try? storage.store.expireHints(before: Date().timeIntervalSince1970 - window), expired > 0 {
                Metrics.Counter(label: "guardian_hints_expired_total").increment(by: expired)
                logger.notice("mesh: \(expired) hints passed the hint window; anti-entropy repairs those owners")
            }
            guard let counts = try? storage.store.hintCounts(), !counts.isEmpty else { continue }
            let live = await mesh.liveAddresses()
            for (owner, _) in counts.sorted(by: { $0.key < $1.key }) {
                guard let address = live[owner] else { continue }
                await handOff(to: owner, at: address)
            }
        }
    }

    private func handOff(to owner: String, at address: String) async {
        while !Task.isCancelled {
            let keys = await outgoingKeys()
            guard let ids = try? storage.store.hints(owner: owner, limit: 256), !ids.isEmpty,
                  let batch = try? storage.store.replicaRecords(ids: ids, maxBytes: Self.recordBudget, keys: keys) else { return }
            let (records, consumed) = batch
            if !records.isEmpty {
                let frame = await mesh.sealed(.results, ResultSync.push(records).encode())
                guard !(await mesh.send(frame, as: .results, to: [address])).isEmpty else { return } // still unreachable: later
                Metrics.Counter(label: "guardian_hints_delivered_total").increment(by: records.count)
            }
            // delivered, or no longer stored here (nothing to hand off)
            try? storage.store.deleteHints(owner: owner, results: Array(ids.prefix(consumed)))
            logger.info("mesh: handed \(records.count) hinted results to \(owner)")
        }
    }

    // MARK: anti-entropy

    /// Starts a cycle every `anti_entropy_seconds`, and soon after a membership change (within 0.5 s
    /// of the previous one): new owners, and members seen again after a partition, receive their
    /// data without waiting a whole interval; a member with a session running is not started again,
    /// so flapping membership cannot pile sessions up. A cycle owes every member sharing projects one
    /// session, at most 4 at once; when a session ends, a catch-up round starts the members still
    /// waiting (`SessionSchedule`). Each cycle also scrubs 500 records.
    func antiEntropyLoop() async {
        var last: Millis = 0, seen = -1
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let now = mono()
            let interval = Millis(config.antiEntropySeconds) * 1000
            let version = await mesh.membershipVersion &+ corruptionVersion
            if now - last >= interval || (version != seen && now - last >= 500) {
                last = now
                seen = version
                catchUpDue = false
                await antiEntropyRound()
                scrubSome()
            } else if catchUpDue {
                catchUpDue = false
                await antiEntropyRound(catchUp: true)
            }
        }
    }

    /// One round. A new cycle (`catchUp` false) owes a session to every member this node shares
    /// projects with; a catch-up round starts only members the cycle still owes.
    public func antiEntropyRound(catchUp: Bool = false) async {
        // the ring and the live members as one view (one turn of the shell)
        let (ring, live) = await mesh.placement()
        guard let registered = try? storage.store.projectIDs(), let held = try? storage.store.projectsWithResults() else { return }
        let count = config.replicationFactor
        let plan = handoffs.plan(registered: registered, held: held, owners: { ring.owners(of: $0, count: count) }, now: mono(),
                                 running: sessions.running)
        var dropped: Set<String> = []
        for (p, owners) in plan.drop.sorted(by: { $0.key < $1.key }) {
            if let n = try? storage.store.deleteResults(project: p) {
                logger.notice("mesh: \(p) is owned by \(owners.joined(separator: ", ")), which hold its results; dropped \(n) here")
                Metrics.Counter(label: "guardian_results_handed_off_total").increment(by: n)
                dropped.insert(p)
            }
        }
        let shared = plan.scopes(without: dropped)
        // A session runs on its own task, a few at once, each with a different member; a round does
        // not wait for them. After a partition heals, each owner that missed a backlog receives it as
        // soon as it is seen again, in parallel, not after the sessions that were already running.
        if !catchUp { sessions.startCycle(shared.keys.sorted()) }
        for peer in sessions.next(reachable: { live[$0] != nil && shared[$0]?.isEmpty == false }) {
            let scope = shared[peer]!, address = live[peer]!
            Task {
                let outcome = await self.syncResults(with: address, scope: scope)
                self.sessionEnded(with: peer, scope: scope, outcome)
            }
        }
    }

    /// A session ended: a complete one confirms, for handoffs, that the peer holds the scope's results.
    /// When members are still owed a session this cycle (the most sessions were running, or this
    /// peer's own session, begun while it was cut off, was still waiting out its connect when the
    /// partition healed), a catch-up round starts them now rather than an interval later.
    func sessionEnded(with peer: String, scope: [String], _ outcome: SyncOutcome) {
        lastSessions[peer] = (Date().timeIntervalSince1970, "\(outcome)")
        if sessions.ended(peer) { catchUpDue = true }
        guard outcome == .inSync || outcome == .complete else { return }
        handoffs.confirmed(peer, scope: scope)
    }

    /// Read repair: a sync of one project with its other live owners, at most once per 10 s.
    public func repair(project: String) async {
        let now = mono()
        if let last = lastRepair[project], now - last < 10_000 { return }
        if lastRepair.count > 10_000 { lastRepair.removeAll() }
        lastRepair[project] = now
        let live = await mesh.liveAddresses()
        for owner in await mesh.owners(of: project) where owner != config.name {
            if let address = live[owner] { await syncResults(with: address, scope: [project]) }
        }
    }

    private func scrubSome() {
        guard let (corrupt, next) = try? storage.store.scrub(after: scrubCursor, limit: 500) else { return }
        scrubCursor = next
        noteCorrupt(corrupt)
    }

    /// Corrupt records were removed from the store: counted, logged, and the next round (soon)
    /// fetches good copies.
    public func noteCorrupt(_ ids: [String]) {
        guard !ids.isEmpty else { return }
        Metrics.Counter(label: "guardian_results_corrupt_total").increment(by: ids.count)
        logger.error("store: \(ids.count) stored results no longer match their ids; removed, to be repaired from a peer",
                     metadata: ["ids": "\(ids.map { String($0.prefix(12)) })"])
        corruptionVersion &+= 1 // run anti-entropy soon
    }

    // MARK: the session

    typealias SyncOutcome = ResultSession.Outcome

    /// Answers what a session's state machine needs from this node: its ring, its store, and
    /// verification of the records a peer sent.
    nonisolated func fulfil(_ need: ResultSession.Need, vouched: inout [String: VerifyingKey]?) async throws -> ResultSession.Answer {
        let store = storage.store
        switch need {
        case .sharedScope(let peer):
            return .scope(await sharedScope(with: peer, registered: try store.projectIDs()))
        case .registered(let theirs):
            let registered = Set(try store.projectIDs())
            return .scope(theirs.filter { registered.contains($0) }.sorted())
        case .digest(let scope):
            return .digest(try store.resultDigest(projects: scope))
        case .ids(let scope):
            return .ids(try store.resultIDSet(projects: scope))
        case .records(let ids):
            // the keys vouched for are read once per session (the node's keys come from files)
            if vouched == nil { vouched = await outgoingKeys() }
            let (records, consumed) = try store.replicaRecords(ids: ids, maxBytes: Self.recordBudget, keys: vouched ?? [:])
            return .records(records, consumed: consumed)
        case .store(let records):
            let (stored, refused) = await storage.storeVerified(records, await mesh.signerKeys())
            return .stored(ids: stored, refused: refused)
        }
    }

    /// Anti-entropy with one member over `scope` (this node's initiative), driven by
    /// `ResultSessionInitiator`.
    @discardableResult
    nonisolated func syncResults(with address: String, scope: [String]) async -> SyncOutcome {
        do {
            let digest = try storage.store.resultDigest(projects: scope)
            let name = config.name
            return try await mesh.withStream(to: address, seconds: 300) { it, out in
                var session = ResultSessionInitiator(from: name, scope: scope)
                var counter = SyncBytes()
                var vouched: [String: VerifyingKey]?
                defer { counter.record() }
                var directive = session.start(digest: digest)
                while true {
                    switch directive {
                    case .send(let message, _):
                        let frame = await self.mesh.sealed(.results, message.encode())
                        counter.frames += frame.readableBytes
                        try await out.write(frame)
                        guard let answer = try await it.next() else { throw GuardianError.io("the peer closed the session") }
                        counter.frames += answer.readableBytes
                        guard let plain = await self.mesh.opened(answer, .results) else { throw GuardianError.io("a refused frame") }
                        directive = session.receive(try ResultSync.decode(plain))
                    case .need(let need):
                        let answer = try await self.fulfil(need, vouched: &vouched)
                        counter.add(need, answer)
                        directive = session.provide(answer)
                    case .finished(let outcome):
                        return outcome
                    case .refuse(let reason):
                        throw GuardianError.io(reason)
                    }
                }
            }
        } catch {
            logger.warning("mesh: result sync with \(address) failed", metadata: ["error": "\(error)"])
            return .failed
        }
    }

    /// Serves a results stream (one push, or an anti-entropy session) with `ResultSessionResponder`.
    nonisolated func serveResults(first: ByteBuffer, _ it: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
                                  _ out: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        var session = ResultSessionResponder()
        var counter = SyncBytes()
        var vouched: [String: VerifyingKey]?
        defer { counter.record() }
        var frame: ByteBuffer? = first
        while let f = frame {
            counter.frames += f.readableBytes
            guard let plain = await mesh.opened(f, .results) else { return }
            let message: ResultSync
            do { message = try ResultSync.decode(plain) } catch {
                await mesh.refuse("malformed")
                logger.warning("mesh: malformed result sync message", metadata: ["error": "\(error)"])
                return
            }
            var directive = session.receive(message)
            // a push is replication, not anti-entropy: its envelopes are not counted as a session's
            let isPush: Bool = if case .push = message { true } else { false }
            while case .need(let need) = directive {
                let answer = try await fulfil(need, vouched: &vouched)
                if !isPush { counter.add(need, answer) }
                directive = session.provide(answer)
            }
            switch directive {
            case .send(let reply, let last):
                let answer = await mesh.sealed(.results, reply.encode())
                counter.frames += answer.readableBytes
                try await out.write(answer)
                if last { return }
            case .refuse(let reason):
                await mesh.refuse(reason)
                return
            case .need, .finished:
                return
            }
            frame = try await it.next()
        }
    }

    /// The projects this node and `peer` both own, from this node's ring.
    func sharedScope(with peer: String, registered: [String]) async -> [String] {
        let ring = await mesh.ring()
        return registered.filter { p in
            let owners = ring.owners(of: p, count: config.replicationFactor)
            return owners.contains(config.name) && owners.contains(peer)
        }.sorted()
    }
}

/// Bytes one anti-entropy session moved: all frames, and the envelopes among them.
struct SyncBytes {
    var frames = 0
    var records = 0

    /// The envelopes a step moved: those loaded to send, and those received to store.
    mutating func add(_ need: ResultSession.Need, _ answer: ResultSession.Answer) {
        switch (need, answer) {
        case (.store(let received), _): records += received.reduce(0) { $0 + $1.envelope.count }
        case (_, .records(let sent, _)): records += sent.reduce(0) { $0 + $1.envelope.count }
        default: break
        }
    }
    func record() {
        Metrics.Counter(label: "guardian_antientropy_bytes_total", dimensions: [("part", "frames")]).increment(by: frames)
        Metrics.Counter(label: "guardian_antientropy_bytes_total", dimensions: [("part", "records")]).increment(by: records)
        Metrics.Counter(label: "guardian_antientropy_sessions_total").increment()
    }
}
