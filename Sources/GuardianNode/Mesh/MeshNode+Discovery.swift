import GuardianStore
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// LAN discovery: sealed announcements on the discovery port, and joins to what they announce.
extension MeshNode {
    func discoveryLoop() async {
        guard config.discovery else { return }
        let port = config.discoveryPort
        let socket: Datagrams
        do { socket = try await Self.bindUDP(host: "0.0.0.0", port: port, broadcast: true) } catch {
            logger.warning("mesh: LAN discovery is off: cannot bind UDP port \(port)", metadata: ["error": "\(error)"])
            return
        }
        let (host, _) = (try? AgentConfig.parseAddress(config.gossipAddr, what: "gossip address")) ?? ("127.0.0.1", 0)
        let targets = Discovery.targets(gossipHost: host, port: port)
        logger.info("mesh: LAN discovery on UDP \(port)", metadata: ["targets": "\(targets.compactMap(\.ipAddress))"])
        await keepBound("discovery", first: socket, bind: { try await Self.bindUDP(host: "0.0.0.0", port: port, broadcast: true) }) { socket in
            await self.setDiscoveryChannel(socket.channel)
            try await socket.executeThenClose { inbound, outbound in
                try await withThrowingDiscardingTaskGroup { g in
                    g.addTask {
                        var sent = 0
                        while !Task.isCancelled {
                            if let packet = await self.sealedAnnouncement() {
                                for t in targets { try? await outbound.write(AddressedEnvelope(remoteAddress: t, data: ByteBuffer(bytes: packet))) }
                            }
                            sent += 1
                            // three quick announcements at start, then one per push-pull interval
                            try? await Task.sleep(for: .seconds(sent < 3 ? 1 : max(2, min(self.config.pushPullSeconds, 60))))
                        }
                    }
                    for try await datagram in inbound { await self.announcement(Array(buffer: datagram.data)) }
                    g.cancelAll() // the socket closed: stop announcing on it
                }
            }
        }
    }

    func setDiscoveryChannel(_ channel: any Channel) { discoveryChannel = channel }

    func sealedAnnouncement() -> [UInt8]? {
        guard !instance.leaving else { return nil }
        let me = instance.myself
        let a = Discovery.Announcement(name: me.name, id: me.meta.id, publicKey: me.meta.publicKey, address: advertised)
        return ClusterSeal.seal(Discovery.encode(a, signer: signer), keyring: keyring, context: .discovery, now: wall())
    }

    /// An announcement from the LAN: a member this node does not know as alive is joined through a
    /// push-pull (at most once per 10 s per address). Refusals are counted apart from gossip's.
    func announcement(_ packet: [UInt8]) async {
        func refused(_ reason: String) {
            Metrics.Counter(label: "guardian_discovery_rejected_total", dimensions: [("reason", reason)]).increment()
        }
        let plain: [UInt8]
        do { plain = try ClusterSeal.open(packet, keyring: keyring, context: .discovery, replay: &discoveryReplay, now: wall(), maxSize: 2048) } catch {
            return refused(error.rawValue)
        }
        guard let a = Discovery.decode(plain) else { return refused("bad_signature") }
        guard a.id != instance.me.id, a.address != advertised else { return }
        if liveOthers.contains(where: { $0.meta.id == a.id && $0.meta.address == a.address }) { return }
        let now = mono()
        if let last = discoveryAttempts[a.address], now - last < 10_000 { return }
        if discoveryAttempts.count > 10_000 { discoveryAttempts.removeAll() }
        discoveryAttempts[a.address] = now
        if await exchange(with: a.address) {
            logger.notice("mesh: discovered \(a.name) at \(a.address) on the LAN")
        }
    }
}
