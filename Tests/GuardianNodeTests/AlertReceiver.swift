import Foundation
import GuardianTestKit
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP server on loopback that plays Slack, Discord or a webhook receiver: it records every
/// request to `/hooks/{name}` and answers each name from a script (a status, an optional
/// `Retry-After`, an optional delay), then 200 once the script runs out.
final class AlertReceiver: Sendable {
    struct Received: Sendable {
        var name: String
        var headers: [String: String]
        var body: Data
        /// What the receiver answered.
        var status = 0
        /// The body as a JSON object; a body that is not one is an error, never an empty object.
        func json() throws -> [String: Any] {
            guard let o = try JSONSerialization.jsonObject(with: body) as? [String: Any] else { throw FixtureError(message: "not a JSON object: \(body.count) bytes") }
            return o
        }
    }
    struct Answer: Sendable {
        var status: Int
        var retryAfter: String? = nil
        var delay: Duration = .zero
    }

    private let state = Mutex<(received: [Received], scripts: [String: [Answer]], always: [String: Answer])>(([], [:], [:]))
    private let port = Mutex<Int?>(nil)
    init() {}

    func script(_ name: String, _ answers: [Answer]) { state.withLock { $0.scripts[name] = answers } }
    /// Every request to `name` gets this answer.
    func always(_ name: String, _ answer: Answer) { state.withLock { $0.always[name] = answer } }

    func received(_ name: String) -> [Received] { state.withLock { $0.received.filter { $0.name == name } } }
    var all: [Received] { state.withLock { $0.received } }

    func url(_ name: String) -> String { "http://127.0.0.1:\(port.withLock { $0 } ?? 0)/hooks/\(name)" }

    static func start() async throws -> AlertReceiver {
        let r = AlertReceiver()
        let router = Router()
        router.post("hooks/:name") { request, context -> Response in
            let name = try context.parameters.require("name")
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for f in request.headers { headers[f.name.canonicalName.lowercased()] = f.value } // keyed lowercase
            let answer: Answer = r.state.withLock { s in
                var a = s.always[name] ?? Answer(status: 200)
                if var list = s.scripts[name], !list.isEmpty {
                    a = list.removeFirst()
                    s.scripts[name] = list
                }
                s.received.append(Received(name: name, headers: headers, body: Data(buffer: body), status: a.status))
                return a
            }
            if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
            var h = HTTPFields()
            if let ra = answer.retryAfter { h[.retryAfter] = ra }
            return Response(status: .init(code: answer.status), headers: h, body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in r.port.withLock { $0 = channel.localAddress?.port } })
        let task = Task(executorPreference: ThreadExecutor.servers) { try await app.runService(gracefulShutdownSignals: []) }
        r.setTask(task)
        try await eventually("the receiver listens", timeout: 60) { r.port.withLock { $0 } != nil }
        return r
    }

    private func setTask(_ t: Task<Void, any Error>) { unsafe_task.withLock { $0 = t } }
    private let unsafe_task = Mutex<Task<Void, any Error>?>(nil)
    func stop() { unsafe_task.withLock { $0?.cancel() } }
}
