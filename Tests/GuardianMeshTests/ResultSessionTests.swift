import Testing
@testable import GuardianMesh

/// The session state machines alone, driven by a small in-memory shell: the same types the agent's
/// `MeshShell` and the replication simulator drive.
@Suite struct ResultSessionTests {
    /// One node's results: ids by project, as a store would hold them.
    struct Side {
        var projects: [String: Set<String>] = [:]
        var refuseProject: String?

        func ids(_ scope: [String]) -> IDSet { IDSet(scope.flatMap { projects[$0] ?? [] }.sorted()) }

        mutating func answer(_ need: ResultSession.Need, shared: [String]) -> ResultSession.Answer {
            switch need {
            case .sharedScope: return .scope(shared)
            case .registered(let theirs): return .scope(theirs.filter { projects[$0] != nil }.sorted())
            case .digest(let scope): return .digest(ids(scope).digest)
            case .ids(let scope): return .ids(ids(scope))
            case .records(let wanted):
                let records = wanted.prefix(100).map { id in
                    ResultSync.Record(project: projects.first { $0.value.contains(id) }!.key, createdAt: 0, envelope: Array(id.utf8))
                }
                return .records(Array(records), consumed: records.count)
            case .store(let records):
                var stored: [String] = [], refused = 0
                for r in records {
                    if r.project == refuseProject { refused += 1; continue }
                    let id = String(decoding: r.envelope, as: UTF8.self)
                    projects[r.project, default: []].insert(id)
                    stored.append(id)
                }
                return .stored(ids: stored, refused: refused)
            }
        }
    }

    static func id(_ n: Int) -> String {
        var rng = SplitMix64(seed: UInt64(n) &+ 1)
        return (0..<4).map { _ in let h = String(rng.next(), radix: 16); return String(repeating: "0", count: 16 - h.count) + h }.joined()
    }

    /// Runs a session from `a` to `b` over `scope`; `b` computes `bScope` as its shared scope.
    static func run(_ a: inout Side, _ b: inout Side, scope: [String], bScope: [String]? = nil) -> (ResultSession.Outcome, messages: Int) {
        var initiator = ResultSessionInitiator(from: "a", scope: scope)
        var responder = ResultSessionResponder()
        var directive = initiator.start(digest: a.ids(scope).digest)
        var messages = 0
        while true {
            switch directive {
            case .send(let message, _):
                messages += 1
                var answer = responder.receive(try! ResultSync.decode(message.encode()))
                while case .need(let need) = answer { answer = responder.provide(b.answer(need, shared: bScope ?? scope)) }
                guard case .send(let reply, _) = answer else { return (.failed, messages) }
                directive = initiator.receive(try! ResultSync.decode(reply.encode()))
            case .need(let need):
                directive = initiator.provide(a.answer(need, shared: scope))
            case .finished(let outcome):
                return (outcome, messages)
            case .refuse:
                return (.failed, messages)
            }
        }
    }

    @Test func equalSetsAreInSyncInOneExchange() {
        var a = Side(projects: ["p": Set((0..<50).map(Self.id))]), b = a
        let (outcome, messages) = Self.run(&a, &b, scope: ["p"])
        #expect(outcome == .inSync && messages == 1)
    }

    @Test func bothSidesEndWithTheUnion() {
        var a = Side(projects: ["p": Set((0..<300).map(Self.id)), "q": Set((1000..<1010).map(Self.id))])
        var b = Side(projects: ["p": Set((200..<520).map(Self.id)), "q": []])
        let (outcome, _) = Self.run(&a, &b, scope: ["p", "q"])
        #expect(outcome == .complete)
        #expect(a.projects == b.projects && a.projects["p"]?.count == 520 && b.projects["q"]?.count == 10)
    }

    /// A responder whose ring gives another scope asks for the initiator's; it then compares exactly that.
    @Test func aDifferentScopeIsSpelledOut() {
        var a = Side(projects: ["p": Set((0..<20).map(Self.id))]), b = Side(projects: ["p": [], "z": []])
        let (outcome, _) = Self.run(&a, &b, scope: ["p"], bScope: ["p", "z"])
        #expect(outcome == .complete && b.projects["p"]?.count == 20)
    }

    /// Records the responder refuses make the session partial, never complete (a handoff waits).
    @Test func refusedRecordsMakeItPartial() {
        var a = Side(projects: ["p": Set((0..<20).map(Self.id))])
        var b = Side(projects: ["p": []], refuseProject: "p")
        let (outcome, _) = Self.run(&a, &b, scope: ["p"])
        #expect(outcome == .partial && b.projects["p"]?.isEmpty == true)
    }

    @Test func outOfPlaceMessagesAreRefused() {
        var responder = ResultSessionResponder()
        #expect(responder.receive(.descend(expand: [], leaves: [], records: [])) == .refuse("malformed"))
        #expect(responder.receive(.scope(["p"])) == .refuse("malformed"))
        #expect(responder.receive(.inSync) == .refuse("malformed"))
        var initiator = ResultSessionInitiator(from: "a", scope: ["p"])
        _ = initiator.start(digest: SetDigest())
        #expect(initiator.receive(.pushed(stored: 1, refused: 0)) == .finished(.failed))
    }

    @Test func aPushIsStoredAndAnswered() {
        var responder = ResultSessionResponder()
        let records = [ResultSync.Record(project: "p", createdAt: 0, envelope: Array(Self.id(1).utf8))]
        #expect(responder.receive(.push(records)) == .need(.store(records)))
        #expect(responder.provide(.stored(ids: [Self.id(1)], refused: 0)) == .send(.pushed(stored: 1, refused: 0), last: true))
    }
}
