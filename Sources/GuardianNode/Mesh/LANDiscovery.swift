import Foundation
import GuardianCrypto
import GuardianMesh
import Logging
import Metrics
import NIOCore
import ServiceLifecycle

/// LAN discovery (`Discovery`), a service of its own beside the membership shell: sealed
/// announcements on the discovery port, and a join through the shell to what they announce. It owns
/// its socket, its replay window and when each announced address was last tried.
public actor LANDiscovery: Service {
    let mesh: MeshShell
    let config: AgentConfig
    let logger: Logger
    let clock = MonotonicMillis()
    var replay = ReplayWindow()
    var attempts: [String: Millis] = [:]
    var stopping = false

    public init(mesh: MeshShell, config: AgentConfig, logger: Logger) {
        self.mesh = mesh
        self.config = config
        self.logger = logger
    }

    public func run() async throws {
        guard config.discovery else { return try await gracefulShutdown() }
        let port = config.discoveryPort
        let socket: UDPSocket.Datagrams
        do { socket = try await UDPSocket.bind(host: "0.0.0.0", port: port, broadcast: true) } catch {
            logger.warning("mesh: LAN discovery is off: cannot bind UDP port \(port)", metadata: ["error": "\(error)"])
            return try await gracefulShutdown()
        }
        let (host, _) = (try? AgentConfig.parseAddress(config.gossipAddr, what: "gossip address")) ?? ("127.0.0.1", 0)
        let targets = Discovery.targets(gossipHost: host, port: port)
        logger.info("mesh: LAN discovery on UDP \(port)", metadata: ["targets": "\(targets.compactMap(\.ipAddress))"])
        let (shutdown, requested) = AsyncStream<Void>.makeStream()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { tasks in
                tasks.addTask { await self.announce(on: socket, port: port, to: targets) }
                for await _ in shutdown { break }
                await self.stop()
                tasks.cancelAll()
            }
        } onGracefulShutdown: {
            requested.yield()
            requested.finish()
        }
    }

    /// Announces this node and reads announcements, on a socket bound again whenever it closes.
    nonisolated func announce(on first: UDPSocket.Datagrams, port: Int, to targets: [SocketAddress]) async {
        await UDPSocket.keepBound("discovery", first: first, logger: logger, stopped: { await self.stopping },
                                  bind: { try await UDPSocket.bind(host: "0.0.0.0", port: port, broadcast: true) }) { socket in
            await self.setChannel(socket.channel)
            try await socket.executeThenClose { inbound, outbound in
                try await withThrowingDiscardingTaskGroup { g in
                    g.addTask {
                        var sent = 0
                        while !Task.isCancelled {
                            if let packet = await self.mesh.sealedAnnouncement() {
                                for t in targets { try? await outbound.write(AddressedEnvelope(remoteAddress: t, data: ByteBuffer(bytes: packet))) }
                            }
                            sent += 1
                            // three quick announcements at start, then one per push-pull interval
                            try? await Task.sleep(for: .seconds(sent < 3 ? 1 : max(2, min(self.config.pushPullSeconds, 60))))
                        }
                    }
                    for try await datagram in inbound { await self.received(Array(buffer: datagram.data)) }
                    g.cancelAll() // the socket closed: stop announcing on it
                }
            }
        }
    }

    var channel: (any Channel)?
    func setChannel(_ c: any Channel) { channel = c }

    func stop() async {
        stopping = true
        try? await channel?.close()
    }

    func mono() -> Millis { clock.now() }

    /// An announcement from the LAN: a member this node does not know as alive is joined through a
    /// push-pull (at most once per 10 s per address). Refusals are counted apart from gossip's.
    func received(_ packet: [UInt8]) async {
        func refused(_ reason: String) {
            Metrics.Counter(label: "guardian_discovery_rejected_total", dimensions: [("reason", reason)]).increment()
        }
        let plain: [UInt8]
        do {
            plain = try ClusterSeal.open(packet, keyring: await mesh.keyring, context: .discovery, replay: &replay,
                                         now: mesh.wall(), maxSize: 2048)
        } catch {
            return refused(error.rawValue)
        }
        guard let a = Discovery.decode(plain) else { return refused("bad_signature") }
        guard await !mesh.knows(a) else { return }
        let now = mono()
        if let last = attempts[a.address], now - last < 10_000 { return }
        if attempts.count > 10_000 { attempts.removeAll() }
        attempts[a.address] = now
        if await mesh.exchange(with: a.address) {
            logger.notice("mesh: discovered \(a.name) at \(a.address) on the LAN")
        }
    }
}

extension MeshShell {
    /// This node's announcement, sealed; nil once it is leaving.
    func sealedAnnouncement() -> [UInt8]? {
        guard serving, !instance.leaving else { return nil }
        let me = instance.myself
        let a = Discovery.Announcement(name: me.name, id: me.meta.id, publicKey: me.meta.publicKey, address: advertised)
        return ClusterSeal.seal(Discovery.encode(a, signer: signer), keyring: keyring, context: .discovery, now: wall())
    }

    /// True when an announcement names this node, or a live member at the address it gives (or
    /// when this node is not serving yet: it joins nobody before it listens itself).
    func knows(_ a: Discovery.Announcement) -> Bool {
        !serving || a.id == instance.me.id || a.address == advertised
            || liveOthers.contains { $0.meta.id == a.id && $0.meta.address == a.address }
    }
}
