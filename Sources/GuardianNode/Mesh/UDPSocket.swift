import Logging
import Metrics
import NIOCore
import NIOPosix

/// The mesh's UDP sockets: gossip, and LAN discovery.
enum UDPSocket {
    typealias Datagrams = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

    /// A UDP socket (with `SO_BROADCAST` for discovery announcements).
    static func bind(host: String, port: Int, broadcast: Bool = false) async throws -> Datagrams {
        try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.so_broadcast), value: broadcast ? 1 : 0)
            .bind(host: host, port: port) { ch in
                ch.eventLoop.makeCompletedFuture { try Datagrams(wrappingChannelSynchronously: ch) }
            }
    }

    /// Runs `body` over a UDP socket, and binds the socket again whenever it closes before its owner
    /// stops (`stopped`). NIO closes a datagram socket on a send error it takes for fatal: `EPERM`
    /// from a host firewall that drops outgoing packets, `ENETUNREACH` while an interface is down.
    /// Without this the node would stay deaf and mute for good after such a moment, taken for dead
    /// by every member while it still runs (found by the partition harness: iptables OUTPUT rules
    /// cause `EPERM`).
    static func keepBound(_ what: String, first: Datagrams, logger: Logger, stopped: @escaping @Sendable () async -> Bool,
                          bind: @escaping @Sendable () async throws -> Datagrams,
                          _ body: @escaping @Sendable (Datagrams) async throws -> Void) async {
        var socket: Datagrams? = first
        var wait = 100
        while !Task.isCancelled, await !stopped() {
            if let s = socket {
                socket = nil
                do { try await body(s) } catch {
                    logger.debug("mesh: \(what) socket ended", metadata: ["error": "\(error)"])
                }
                guard !Task.isCancelled, await !stopped() else { return }
                Metrics.Counter(label: "guardian_gossip_socket_rebinds_total", dimensions: [("socket", what)]).increment()
                logger.warning("mesh: the \(what) UDP socket closed (a send was refused or the network failed); binding it again")
            }
            do {
                socket = try await bind()
                wait = 100
            } catch {
                logger.warning("mesh: cannot bind the \(what) UDP socket again; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(wait))
                wait = min(wait * 2, 5_000)
            }
        }
        if let socket { try? await socket.executeThenClose { _, _ in } }
    }
}
