import Foundation

/// A live event for `GET /v1/events` (Server-Sent Events). Ids increase so a client can resume
/// with `Last-Event-ID`.
public struct NodeEvent: Sendable, Codable, Equatable {
    public var id: Int
    public var type: String
    public var data: [String: String]
}

/// Keeps the last events and fans them out to subscribers.
public actor EventBus {
    private var recent: [NodeEvent] = []
    private var nextId = 1
    private var subscribers: [UUID: AsyncStream<NodeEvent>.Continuation] = [:]
    private let keep: Int

    public init(keep: Int = 1000) { self.keep = keep }

    public func publish(_ type: String, _ data: [String: String]) {
        let e = NodeEvent(id: nextId, type: type, data: data)
        nextId += 1
        recent.append(e)
        if recent.count > keep { recent.removeFirst(recent.count - keep) }
        for c in subscribers.values { c.yield(e) }
    }

    /// Events after `lastId` (for resuming), then live ones.
    public func subscribe(after lastId: Int?) -> (backlog: [NodeEvent], stream: AsyncStream<NodeEvent>, id: UUID) {
        let id = UUID()
        let (stream, continuation) = AsyncStream<NodeEvent>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        if finished { continuation.finish() } else { subscribers[id] = continuation }
        let backlog = lastId.map { l in recent.filter { $0.id > l } } ?? []
        return (backlog, stream, id)
    }

    public func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.finish()
    }

    /// A keep-alive for every subscriber (id 0): writing it fails for clients that went away.
    public func heartbeat() {
        for c in subscribers.values { c.yield(NodeEvent(id: 0, type: "heartbeat", data: [:])) }
    }

    private var finished = false

    public func finishAll() {
        finished = true
        for c in subscribers.values { c.finish() }
        subscribers.removeAll()
    }
}
