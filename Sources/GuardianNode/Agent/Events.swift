import GuardianStore
import Foundation

/// A live event for `GET /v1/events` (Server-Sent Events). Ids increase so a client can resume
/// with `Last-Event-ID`.
public struct NodeEvent: Sendable, Codable, Equatable {
    public var id: Int
    public var type: String
    public var data: [String: String]
    /// Who may see it: the readers of its project's team; every token for mesh events (members);
    /// only admins for an event about a project whose team is unknown here.
    public var scope: Scope

    public enum Scope: Sendable, Codable, Equatable {
        case mesh
        case team(String)
        case adminOnly
    }

    public init(id: Int, type: String, data: [String: String], scope: Scope = .mesh) {
        self.id = id; self.type = type; self.data = data; self.scope = scope
    }

    /// Whether a caller sees the event.
    func visible(to p: Principal) -> Bool {
        switch scope {
        case .mesh: true
        case .team(let t): p.canRead(team: t)
        case .adminOnly: p.isAdmin
        }
    }
}

/// Keeps the last events and fans them out to subscribers, each of whom gets only the events its
/// principal may read (the backlog replayed on `Last-Event-ID` is filtered the same way). Streams
/// are capped in total, per team and per token (each holds a connection and a buffer), and the
/// last `adminReserve` of the total are kept for admins: a team that mints tokens cannot take
/// every stream. A stream leaves the count when its client goes, however it goes.
public actor EventBus {
    private var recent: [NodeEvent] = []
    private var nextId = 1
    private var subscribers: [UUID: (continuation: AsyncStream<NodeEvent>.Continuation, principal: Principal)] = [:]
    private let keep: Int
    /// The team of a project, for events that name one (`data["project"]`).
    private let teamOf: @Sendable (String) -> String?
    let maxStreams: Int
    let maxStreamsPerToken: Int
    let maxStreamsPerTeam: Int
    var adminReserve: Int { min(16, maxStreams / 4) }

    public init(keep: Int = 1000, maxStreams: Int = 256, maxStreamsPerToken: Int = 16, maxStreamsPerTeam: Int = 64,
                teamOf: @escaping @Sendable (String) -> String? = { _ in nil }) {
        self.keep = keep
        self.maxStreams = maxStreams
        self.maxStreamsPerToken = maxStreamsPerToken
        self.maxStreamsPerTeam = maxStreamsPerTeam
        self.teamOf = teamOf
    }

    /// Publishes an event. Its scope is the team of `data["project"]` (looked up here unless `team`
    /// is given: a removed project is no longer there to look up); without a project it is a mesh event.
    public func publish(_ type: String, _ data: [String: String], team: String? = nil) {
        let scope: NodeEvent.Scope
        if let project = data["project"] {
            scope = (team ?? teamOf(project)).map { .team($0) } ?? .adminOnly
        } else {
            scope = .mesh
        }
        let e = NodeEvent(id: nextId, type: type, data: data, scope: scope)
        nextId += 1
        recent.append(e)
        if recent.count > keep { recent.removeFirst(recent.count - keep) }
        for s in subscribers.values where e.visible(to: s.principal) { s.continuation.yield(e) }
    }

    public enum SubscribeError: Error, Equatable { case tooManyStreams, tooManyStreamsForTeam, tooManyStreamsForToken }

    /// Events after `lastId` that `principal` may see (for resuming), then live ones.
    public func subscribe(after lastId: Int?, as principal: Principal) throws(SubscribeError) -> (backlog: [NodeEvent], stream: AsyncStream<NodeEvent>, id: UUID) {
        let others = subscribers.values.map(\.principal)
        guard others.count < (principal.isAdmin ? maxStreams : maxStreams - adminReserve) else { throw .tooManyStreams }
        if let team = principal.team, !principal.isAdmin {
            guard others.filter({ $0.team == team && !$0.isAdmin }).count < maxStreamsPerTeam else { throw .tooManyStreamsForTeam }
        }
        guard others.filter({ $0.tokenId == principal.tokenId }).count < maxStreamsPerToken else { throw .tooManyStreamsForToken }
        let id = UUID()
        let (stream, continuation) = AsyncStream<NodeEvent>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        // the stream ends when its reader goes (a client that disconnects, a response that fails): the slot goes with it
        continuation.onTermination = { [weak self] _ in Task { await self?.unsubscribe(id) } }
        if finished { continuation.finish() } else { subscribers[id] = (continuation, principal) }
        let backlog = lastId.map { l in recent.filter { $0.id > l && $0.visible(to: principal) } } ?? []
        return (backlog, stream, id)
    }

    public func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.continuation.finish()
    }

    public var streams: Int { subscribers.count }

    /// A keep-alive for every subscriber (id 0): writing it fails for clients that went away.
    public func heartbeat() {
        for s in subscribers.values { s.continuation.yield(NodeEvent(id: 0, type: "heartbeat", data: [:])) }
    }

    private var finished = false

    public func finishAll() {
        finished = true
        for s in subscribers.values { s.continuation.finish() }
        subscribers.removeAll()
    }
}
