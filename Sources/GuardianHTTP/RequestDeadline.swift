import GuardianNode
import GuardianStore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request body stops arriving: in every window of `seconds` after the
/// head, the body must be complete or have brought at least `minimumBytes` more. A body sent a
/// byte at a time cannot hold a connection, while a large one (an air-gap import streamed over a
/// slow link) may take as long as it keeps coming. (The server's idle timeout already closes a
/// connection whose request head does not arrive: no part is read until the head is whole.)
final class RequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    static let minimumBytes = 16 << 10
    let seconds: Int64
    private var check: Scheduled<Void>?
    private var arrived = 0

    init(seconds: Int) { self.seconds = Int64(seconds) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            arrived = 0
            schedule(context)
        case .body(let buffer):
            arrived += buffer.readableBytes
        case .end:
            check?.cancel()
            check = nil
        }
        context.fireChannelRead(data)
    }

    /// The next window's check: too little arrived, the connection goes; else another window.
    private func schedule(_ context: ChannelHandlerContext) {
        check?.cancel()
        let channel = context.channel
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(in: .seconds(seconds)) {
            let (handler, context) = loopBound.value
            guard handler.check != nil else { return }
            if handler.arrived < Self.minimumBytes {
                channel.close(promise: nil)
            } else {
                handler.arrived = 0
                handler.schedule(context)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }
}

extension API {
    /// The HTTP/1.1 server: requests whose body stalls are closed (`RequestDeadline`), and idle
    /// connections after `http_idle_timeout_seconds`.
    public static func server(_ config: AgentConfig, tls: ServerTLS? = nil) throws -> HTTPServerBuilder {
        let requestSeconds = config.httpRequestTimeoutSeconds
        let plain = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [RequestDeadline(seconds: requestSeconds)],
                                                                 idleTimeout: .seconds(Int64(config.httpIdleTimeoutSeconds))))
        guard let tls else { return plain }
        return try .tls(plain, tlsConfiguration: tls.configuration())
    }
}
