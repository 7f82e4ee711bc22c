/// One anti-entropy session or push of `ResultSync`, as two pure state machines: the initiator
/// (the node that opens the session) and the responder. Neither does I/O. Each step returns a
/// directive: send a message, ask the shell for data (`Need`, answered with `provide`), or stop.
/// The agent's shell (`MeshShell`) carries the messages over a sealed stream and reads its store;
/// the replication simulator drives the very same types over its in-memory nodes.
public enum ResultSession {
    /// What a state machine needs from its node before it can go on.
    public enum Need: Sendable, Equatable {
        /// The projects this node and `peer` both own, by this node's ring (sorted).
        case sharedScope(peer: String)
        /// Those of `projects` that this node has registered (sorted).
        case registered([String])
        /// The digest of this node's result ids over these projects.
        case digest([String])
        /// This node's result ids over these projects.
        case ids([String])
        /// The records of these ids, from the first, up to the shell's byte budget.
        case records([String])
        /// Verify and store these records; answer with the ids stored and the number refused.
        case store([ResultSync.Record])
    }

    /// The shell's answer to a `Need`.
    public enum Answer: Sendable {
        case scope([String])
        case digest(SetDigest)
        case ids(IDSet)
        case records([ResultSync.Record], consumed: Int)
        case stored(ids: [String], refused: Int)
    }

    public enum Directive: Sendable, Equatable {
        /// Send this message; `last`: the session ends once it is sent (a responder's final answer).
        case send(ResultSync, last: Bool)
        case need(Need)
        /// The initiator's session is over.
        case finished(Outcome)
        /// The responder refuses the stream: a message out of place.
        case refuse(String)
    }

    /// How a session ended, for the initiator.
    public enum Outcome: Sendable, Equatable {
        /// The digests were equal: nothing differed.
        case inSync
        /// Ran to its end and the peer stored everything it lacked: it now holds all this node holds in scope.
        case complete
        /// Ran to its end, but records were refused on one side or subtrees given up on.
        case partial
        /// An answer out of order (the shell adds transport failures of its own).
        case failed
    }

    /// The most `descend` rounds one session runs.
    public static let maxRounds = 100_000
}

/// The side that opens a session over `scope` with its own digest.
public struct ResultSessionInitiator: Sendable {
    public typealias Directive = ResultSession.Directive
    let from: String
    let scope: [String]
    private var phase = Phase.opened
    private var first: [ResultSync.TreeNode] = []
    private var walk = SyncWalk(mine: IDSet([]))
    private var wanted: [String] = [], wantedSet: Set<String> = []
    private var refusedThere = 0
    private var rounds = 0
    /// The descend that waits for its records, and the reply that waits for its records to be stored.
    private var nextDescend: (expand: [String], leaves: [ResultSync.Leaf]) = ([], [])
    private var pendingReply: (nodes: [ResultSync.TreeNode], want: [String]) = ([], [])
    private var last = false

    enum Phase: Sendable { case opened, scopeSent, loadingIDs, loadingRecords, walking, storing, done }

    public init(from: String, scope: [String]) { self.from = from; self.scope = scope }

    public mutating func start(digest: SetDigest) -> Directive {
        .send(.open(from: from, scope: ResultSync.scopeHash(scope), digest: digest), last: false)
    }

    public mutating func receive(_ message: ResultSync) -> Directive {
        switch (phase, message) {
        case (.opened, .needScope):
            phase = .scopeSent
            return .send(.scope(scope), last: false)
        case (.opened, .inSync), (.scopeSent, .inSync):
            return finish(.inSync)
        case (.opened, .reply(let nodes, _, _, _)), (.scopeSent, .reply(let nodes, _, _, _)):
            first = nodes
            phase = .loadingIDs
            return .need(.ids(scope))
        case (.walking, .reply(let nodes, let theirs, let want, let refused)):
            refusedThere += refused
            pendingReply = (nodes, want)
            guard theirs.isEmpty else {
                phase = .storing
                return .need(.store(theirs))
            }
            return replied()
        default:
            return finish(.failed)
        }
    }

    public mutating func provide(_ answer: ResultSession.Answer) -> Directive {
        switch (phase, answer) {
        case (.loadingIDs, .ids(let mine)):
            walk = SyncWalk(mine: mine)
            walk.receive(first)
            return descend()
        case (.loadingRecords, .records(let records, let consumed)):
            wanted.removeFirst(min(consumed, wanted.count))
            return send(records)
        case (.storing, .stored(let ids, _)):
            walk.received(ids)
            return replied()
        default:
            return finish(.failed)
        }
    }

    private mutating func descend() -> Directive {
        guard rounds < ResultSession.maxRounds else { return finish(.partial) }
        nextDescend = walk.next()
        guard wanted.isEmpty else {
            phase = .loadingRecords
            return .need(.records(wanted))
        }
        return send([])
    }

    private mutating func send(_ records: [ResultSync.Record]) -> Directive {
        let (expand, leaves) = nextDescend
        last = expand.isEmpty && leaves.isEmpty && wanted.isEmpty && records.isEmpty
        rounds += 1
        phase = .walking
        return .send(.descend(expand: expand, leaves: leaves, records: records), last: false)
    }

    /// A reply handled: what the peer wants is queued, its subtrees walked, and the empty descend
    /// this node sent last ended the session.
    private mutating func replied() -> Directive {
        for id in pendingReply.want where wantedSet.insert(id).inserted { wanted.append(id) }
        walk.receive(pendingReply.nodes)
        guard !last else { return finish(walk.abandoned == 0 && refusedThere == 0 ? .complete : .partial) }
        return descend()
    }

    private mutating func finish(_ outcome: ResultSession.Outcome) -> Directive {
        phase = .done
        return .finished(outcome)
    }
}

/// The side that answers: a push, or a session frame by frame.
public struct ResultSessionResponder: Sendable {
    public typealias Directive = ResultSession.Directive
    private var from = ""
    private var theirHash: UInt64 = 0
    private var theirDigest = SetDigest()
    private var theirCount = 0
    private var scope: [String]?
    private var ids: IDSet?
    private var waiting = Waiting.message
    private var descend: (expand: [String], leaves: [ResultSync.Leaf], records: [ResultSync.Record]) = ([], [], [])
    private var refused = 0
    private var ended = false
    private var respond: (nodes: [ResultSync.TreeNode], send: [String], want: [String]) = ([], [], [])

    enum Waiting: Sendable { case message, push, sharedScope, registered, digest, idsForReply, idsForDescend, storeDescend, records }

    public init() {}

    public mutating func receive(_ message: ResultSync) -> Directive {
        guard waiting == .message else { return .refuse("malformed") }
        switch message {
        case .push(let records):
            waiting = .push
            return .need(.store(records))
        case .open(let peer, let hash, let digest):
            from = peer; theirHash = hash; theirDigest = digest
            waiting = .sharedScope
            return .need(.sharedScope(peer: peer))
        case .scope(let theirs):
            guard !from.isEmpty else { return .refuse("malformed") }
            theirCount = theirs.count
            waiting = .registered
            return .need(.registered(theirs))
        case .descend(let expand, let leaves, let records):
            guard let scope else { return .refuse("malformed") }
            ended = expand.isEmpty && leaves.isEmpty && records.isEmpty
            descend = (expand, leaves, records)
            guard ids != nil else {
                waiting = .idsForDescend
                return .need(.ids(scope))
            }
            return storeDescended()
        case .needScope, .inSync, .reply, .pushed:
            return .refuse("malformed")
        }
    }

    public mutating func provide(_ answer: ResultSession.Answer) -> Directive {
        let was = waiting
        waiting = .message
        switch (was, answer) {
        case (.push, .stored(let stored, let refused)):
            return .send(.pushed(stored: stored.count, refused: refused), last: true)
        case (.sharedScope, .scope(let mine)):
            guard ResultSync.scopeHash(mine) == theirHash else { return .send(.needScope, last: false) }
            return compare(mine)
        case (.registered, .scope(let mine)):
            // equal digests over the initiator's scope: nothing to do (also when it hands off)
            guard mine.count == theirCount else { return loadIDs(mine) }
            return compare(mine)
        case (.digest, .digest(let mine)):
            guard mine != theirDigest, let scope else { return .send(.inSync, last: true) }
            return loadIDs(scope)
        case (.idsForReply, .ids(let mine)):
            ids = mine
            return .send(.reply(nodes: mine.children(of: ""), records: [], want: []), last: false)
        case (.idsForDescend, .ids(let mine)):
            ids = mine
            return storeDescended()
        case (.storeDescend, .stored(let stored, let bad)):
            for id in stored { ids?.insert(id) }
            refused += bad
            return answerDescend()
        case (.records, .records(let out, let consumed)):
            return reply(out, consumed: consumed)
        default:
            return .refuse("malformed")
        }
    }

    private mutating func compare(_ mine: [String]) -> Directive {
        scope = mine
        waiting = .digest
        return .need(.digest(mine))
    }

    private mutating func loadIDs(_ mine: [String]) -> Directive {
        scope = mine
        waiting = .idsForReply
        return .need(.ids(mine))
    }

    /// Stores the records of a descend that belong to the scope; the others count as refused.
    private mutating func storeDescended() -> Directive {
        let inScope = Set(scope ?? [])
        let acceptable = descend.records.filter { inScope.contains($0.project) }
        refused = descend.records.count - acceptable.count
        guard acceptable.isEmpty else {
            waiting = .storeDescend
            return .need(.store(acceptable))
        }
        return answerDescend()
    }

    private mutating func answerDescend() -> Directive {
        respond = SyncWalk.respond(expand: descend.expand, leaves: descend.leaves, mine: ids ?? IDSet([]))
        guard respond.send.isEmpty else {
            waiting = .records
            return .need(.records(respond.send))
        }
        return reply([], consumed: 0)
    }

    private mutating func reply(_ out: [ResultSync.Record], consumed: Int) -> Directive {
        let unsent = respond.send[min(consumed, respond.send.count)...]
        let nodes = respond.nodes + SyncWalk.unfinished(leaves: descend.leaves, unsent: unsent, mine: ids ?? IDSet([]))
        return .send(.reply(nodes: nodes, records: out, want: respond.want, refused: refused), last: ended)
    }
}
