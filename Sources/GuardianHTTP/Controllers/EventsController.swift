import GuardianNode
import GuardianStore
import Foundation
import GuardianCore
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/events`: Server-Sent Events, resumable with `Last-Event-ID`.
struct EventsController {
    let api: API
    var node: Node { api.node }

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("events", use: stream)
        return r
    }

    @Sendable func stream(_ request: Request, context: GuardianContext) async throws -> Response {
        try await events(lastId: request.headers[HTTPField.Name("Last-Event-ID")!].flatMap(Int.init), as: context.caller())
    }

    /// The caller's event stream: only events of projects it may read (and mesh events), the
    /// backlog after `Last-Event-ID` filtered the same way; 429 past the stream caps.
    /// `stillValid` (the dashboard's session) is asked before each write, heartbeats included: a
    /// stream whose session ended closes within a heartbeat.
    func events(lastId: Int?, as p: Principal, stillValid: (@Sendable () -> Bool)? = nil) async throws -> Response {
        let subscription: (backlog: [NodeEvent], stream: AsyncStream<NodeEvent>, id: UUID)
        do { subscription = try await node.events.subscribe(after: lastId, as: p) } catch {
            let which: String
            switch error {
            case .tooManyStreams: which = "this node serves the most event streams it allows (max_event_streams); try again later"
            case .tooManyStreamsForTeam: which = "this team has the most event streams open that a team may (max_event_streams_per_team)"
            case .tooManyStreamsForToken: which = "this token has the most event streams open that a token may (max_event_streams_per_token)"
            }
            throw APIError(.tooManyRequests, "too_many_streams", which)
        }
        let (backlog, stream, id) = subscription
        let bus = node.events
        let body = ResponseBody { writer in
            func frame(_ e: NodeEvent) -> ByteBuffer {
                let data = (try? JSONEncoder().encode(e.data)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                return ByteBuffer(string: "id: \(e.id)\nevent: \(e.type)\ndata: \(data)\n\n")
            }
            do {
                try await writer.write(ByteBuffer(string: ": guardian events\nretry: 2000\n\n"))
                for e in backlog { try await writer.write(frame(e)) }
                for await e in stream {
                    if let stillValid, !stillValid() { break }
                    try await writer.write(e.id == 0 ? ByteBuffer(string: ": keepalive\n\n") : frame(e))
                }
            } catch {
                await bus.unsubscribe(id) // the client went away, at any point
                throw error
            }
            await bus.unsubscribe(id)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}
