import Foundation
import GuardianStore
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The mesh shell: carries out a `SWIMInstance`'s directives on real sockets. UDP datagrams on the
/// gossip address for probes and gossip; TCP on the same port for push-pull full-state syncs; every
/// datagram and frame sealed with the cluster key (`ClusterSeal`). The instance stays pure: this
/// actor feeds it datagrams and the clock, and sends what it asks.
public actor MeshShell: Service {
    public nonisolated let config: AgentConfig
    var keyring: ClusterKeyring
    let identity: VerifyingKey
    let signer: SigningKey
    let logger: Logger
    let events: EventBus
    let peersFile: String
    let dataDir: DataDirectory
    let clock = MonotonicMillis()
    /// The membership state machine. It exists from the start with the configured address; `run`
    /// announces the bound one (a new incarnation) before any socket serves.
    var instance: SWIMInstance
    var replay = ReplayWindow()
    /// Member headers of forwarded HTTP requests have their own window (a header opens once).
    var memberReplay = ReplayWindow()
    /// Registry replication, a service of its own: registry sessions members open go to it, and
    /// every push-pull is followed by one.
    var registrySync: RegistryReplication?
    /// Result replication, a service of its own: the results streams members open go to it.
    var results: ResultReplication?
    /// Sharded analysis: the shard streams members open go to it.
    var shards: ShardedAnalysis?
    /// Told of every membership change (the alert sender raises member.failed and member.left).
    var memberEvents: (@Sendable (MemberEvent) async -> Void)?
    /// Bumped on every membership change: anti-entropy runs soon after.
    var membershipVersion = 0
    var udp: NIOAsyncChannelOutboundWriter<AddressedEnvelope<ByteBuffer>>?
    var udpChannel: (any Channel)?
    /// Stream connections that have not yet proved they hold the cluster key.
    var pending = PendingConnections()
    /// Set when the node shuts down: its sockets are closed on purpose, not bound again.
    var stopping = false
    /// Set once the sockets are bound and the bound address announced: before, the address this
    /// node would give others (the configured one, perhaps port 0) is not yet where it listens.
    var serving = false
    var tcpChannel: (any Channel)?
    var peersDirty = false
    var nextPeersSave: Millis = 0
    /// Gossip addresses resolved once (a host name would otherwise be looked up for every datagram).
    var resolved: [String: SocketAddress] = [:]
    /// Members' public keys by node id, each checked once against its id (not per datagram); pushed
    /// results are verified against them.
    var memberKeys: [String: (text: String, key: VerifyingKey)] = [:]
    /// The ring of the current live members, rebuilt after a membership change.
    var cachedRing: Ring?
    /// The ring of every member not known to have left, dead ones included: the owners a result is
    /// meant for, and so who gets a hint while down.
    var cachedIntendedRing: Ring?
    /// The address other members reach this node at (the bound port when the configured one is 0).
    public private(set) var advertised: String
    /// The HTTP address gossiped to members (the bound one, once the server runs).
    var httpAddress: String
    /// Called once the gossip sockets are bound (systemd readiness).
    var onBound: (@Sendable () -> Void)?

    public init(config: AgentConfig, signer: SigningKey, dataDir: DataDirectory, events: EventBus, logger: Logger) throws {
        guard let key = config.clusterKey else { throw GuardianError.usage("the mesh needs a cluster key") }
        keyring = try Self.loadKeyring(dataDir, configured: key)
        self.config = config
        self.signer = signer
        identity = signer.verifyingKey
        self.events = events
        self.logger = logger
        peersFile = dataDir.file("peers.json")
        self.dataDir = dataDir
        advertised = config.gossipAddr
        httpAddress = config.httpAddr
        var meta = NodeMeta(name: config.name, id: signer.verifyingKey.nodeID.value, publicKey: signer.verifyingKey.base64,
                            address: config.advertiseAddr ?? config.gossipAddr, httpAddress: config.httpAddr,
                            version: Auditor.version, tags: config.tags)
        if meta.tags["capacity"] == nil { meta.tags["capacity"] = "1" }
        // Start above any incarnation this identity used before: a restarted node must not be taken
        // for its own dead former self.
        instance = SWIMInstance(me: meta, incarnation: UInt64(Date().timeIntervalSince1970), config: Self.swimConfig(config),
                                seed: UInt64.random(in: 0...UInt64.max), now: 0)
    }

    static func swimConfig(_ config: AgentConfig) -> SWIMInstance.Config {
        var swim = SWIMInstance.Config()
        swim.probeInterval = Millis(config.probeIntervalMs)
        swim.probeTimeout = swim.probeInterval * 3 / 10
        swim.probeWindow = swim.probeInterval * 8 / 10
        swim.gossipInterval = max(20, swim.probeInterval / 5)
        return swim
    }

    /// Announces this node's metadata when it changed (a new incarnation).
    func announce(address: String? = nil, httpAddress: String? = nil) {
        var meta = instance.me
        if let address { meta.address = address }
        if let httpAddress { meta.httpAddress = httpAddress }
        if meta != instance.me { instance.update(meta: meta) }
    }

    /// The HTTP server is bound: gossip its real address (the configured port may be 0, the host
    /// 0.0.0.0, which other hosts cannot use: then the advertised gossip host is given).
    public func setHTTPAddress(host: String, port: Int) {
        var h = host
        if h == "0.0.0.0", let (gossipHost, _) = try? AgentConfig.parseAddress(advertised, what: "address") { h = gossipHost }
        httpAddress = "\(h):\(port)"
        announce(httpAddress: httpAddress)
    }

    public func attach(onBound f: @escaping @Sendable () -> Void) { onBound = f }

    func mono() -> Millis { clock.now() }
    nonisolated func wall() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: lifecycle

    public func run() async throws {
        let (host, port) = try AgentConfig.parseAddress(config.gossipAddr, what: "gossip address")
        let (datagrams, server, boundPort) = try await Self.bind(host: host, port: port)
        udpChannel = datagrams.channel
        tcpChannel = server.channel
        stopping = false
        if let a = config.advertiseAddr {
            advertised = a
        } else {
            advertised = "\(host == "0.0.0.0" ? "127.0.0.1" : host):\(boundPort)"
            if host == "0.0.0.0" {
                logger.warning("mesh: bound to 0.0.0.0 without advertise_addr; other hosts are told 127.0.0.1, which only works on one machine")
            }
        }
        announce(address: advertised, httpAddress: httpAddress)
        serving = true
        logger.notice("mesh: gossip on \(advertised) (UDP and TCP)", metadata: ["name": "\(config.name)"])
        FileHandle.standardError.write(Data("mesh gossip on \(advertised)\n".utf8))
        onBound?()

        let (shutdown, shutdownRequested) = AsyncStream<Void>.makeStream()
        try await withGracefulShutdownHandler {
            try await self.serve(datagrams: datagrams, host: host, server: server, until: shutdown)
        } onGracefulShutdown: {
            shutdownRequested.yield()
            shutdownRequested.finish()
        }
    }

    /// UDP and TCP on the same port. With port 0 the kernel picks the UDP port, and that port may
    /// already be taken for TCP (another socket's ephemeral port): then both are released and another
    /// port is tried. A channel that was bound is always closed through `executeThenClose`.
    static func bind(host: String, port: Int) async throws -> (UDPSocket.Datagrams, NIOAsyncChannel<(FramedChannel, FrameLimit), Never>, Int) {
        let group = MultiThreadedEventLoopGroup.singleton
        for attempt in 1...20 {
            let datagrams = try await UDPSocket.bind(host: host, port: port)
            let boundPort = datagrams.channel.localAddress?.port ?? port
            do {
                let server = try await ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: host, port: boundPort) { ch in Self.framed(ch) }
                return (datagrams, server, boundPort)
            } catch {
                try? await datagrams.executeThenClose { _, _ in }
                if port != 0 || attempt == 20 {
                    throw GuardianError.io("cannot listen for push-pull on TCP \(host):\(boundPort) (the UDP port is bound): \(error)")
                }
            }
        }
        throw GuardianError.io("no port free for both UDP and TCP on \(host)")
    }

    /// `datagrams` is bound on `host` (the gossip address's host); when it closes, it is bound again there.
    func serve(datagrams: UDPSocket.Datagrams, host: String,
                       server: NIOAsyncChannel<(FramedChannel, FrameLimit), Never>, until shutdown: AsyncStream<Void>) async throws {
        let port = datagrams.channel.localAddress?.port ?? 0
        try await server.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { tasks in
                tasks.addTask {
                    await UDPSocket.keepBound("gossip", first: datagrams, logger: self.logger, stopped: { await self.stopping },
                                              bind: { try await UDPSocket.bind(host: host, port: port) }) { socket in
                        try await socket.executeThenClose { inbound, outbound in
                            await self.setWriter(outbound, socket.channel)
                            for try await envelope in inbound {
                                await self.datagram(Array(buffer: envelope.data), from: envelope.remoteAddress)
                            }
                        }
                    }
                }
                tasks.addTask {
                    try await withThrowingDiscardingTaskGroup { conns in
                        for try await (conn, limit) in connections { conns.addTask { await self.serve(conn, limit: limit) } }
                    }
                }
                tasks.addTask { await self.tickLoop() }
                tasks.addTask { await self.pushPullLoop() }
                tasks.addTask { await self.joinAll(self.config.join + self.savedPeers()) }
                for await _ in shutdown { break } // SIGTERM/SIGINT (or the service cancelled)
                await self.leave()
                await self.close()
                tasks.cancelAll()
            }
        }
    }

    func setWriter(_ w: NIOAsyncChannelOutboundWriter<AddressedEnvelope<ByteBuffer>>, _ channel: any Channel) {
        udp = w
        udpChannel = channel
    }

    func close() async {
        stopping = true
        try? await udpChannel?.close()
        try? await tcpChannel?.close()
    }

    /// Graceful leave: tell a few members, give the datagrams a moment to go out.
    public func leave() async {
        guard !instance.leaving else { return }
        let now = mono()
        let ds = instance.leave(now: now)
        await carryOut(ds)
        try? await Task.sleep(for: .milliseconds(200))
        logger.notice("mesh: left")
    }

    // MARK: datagrams

    func datagram(_ bytes: [UInt8], from address: SocketAddress) async {
        guard let plain = open(bytes, .datagram, maxSize: Wire.maxDatagram) else { return }
        guard let message = try? Wire.decode(plain) else { return refuse("malformed") }
        let kept = message.updates.filter(bound)
        if kept.count != message.updates.count { refuse("bad_identity") }
        let from = "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        let now = mono()
        let ds = instance.receive(kept.count == message.updates.count ? message : message.replacingUpdates(kept), from: from, now: now)
        await carryOut(ds)
    }

    /// Opens a sealed datagram or frame; a refusal is counted and answered with nil.
    func open(_ packet: [UInt8], _ context: ClusterSeal.Context, maxSize: Int = Int.max) -> [UInt8]? {
        packet.withUnsafeBytes { open($0, context, maxSize: maxSize) }
    }

    /// The same over bytes in place (a stream frame inside its network buffer).
    func open(_ packet: UnsafeRawBufferPointer, _ context: ClusterSeal.Context, maxSize: Int = Int.max) -> [UInt8]? {
        do {
            return try ClusterSeal.open(packet, keyring: keyring, context: context, replay: &replay, now: wall(), maxSize: maxSize)
        } catch {
            refuse(error.rawValue)
            return nil
        }
    }

    /// An alive update must carry a public key whose node id is the one it claims.
    func bound(_ u: Update) -> Bool {
        guard case .alive(_, let meta) = u else { return true }
        if memberKeys[meta.id]?.text == meta.publicKey { return true }
        guard let key = try? VerifyingKey(base64: meta.publicKey), key.nodeID.value == meta.id else { return false }
        if memberKeys.count > 100_000 { memberKeys.removeAll() }
        memberKeys[meta.id] = (meta.publicKey, key)
        return true
    }

    func refuse(_ reason: String) {
        Metrics.Counter(label: "guardian_gossip_rejected_total", dimensions: [("reason", reason)]).increment()
        logger.debug("mesh: refused a packet", metadata: ["reason": "\(reason)"])
    }

    func carryOut(_ ds: [SWIMInstance.Directive]) async {
        for d in ds {
            switch d {
            case .send(let m, let to):
                guard let udp, let addr = socketAddress(to) else { continue }
                let sealed = ClusterSeal.seal(Wire.encode(m), keyring: keyring, context: .datagram, now: wall())
                Metrics.Counter(label: "guardian_gossip_bytes_total", dimensions: [("direction", "out")]).increment(by: sealed.count)
                try? await udp.write(AddressedEnvelope(remoteAddress: addr, data: ByteBuffer(bytes: sealed)))
            case .event(let e):
                peersDirty = true
                cachedRing = nil
                cachedIntendedRing = nil
                membershipVersion &+= 1
                logger.info("mesh: \(e.member.name) \(e.kind.rawValue)", metadata: ["address": "\(e.member.meta.address)", "incarnation": "\(e.member.incarnation)"])
                await events.publish("member.\(e.kind.rawValue)", ["name": e.member.name, "address": e.member.meta.address,
                                                                   "status": e.member.status.rawValue, "incarnation": "\(e.member.incarnation)"])
                if let memberEvents { await memberEvents(e) }
            }
        }
    }

    func socketAddress(_ s: String) -> SocketAddress? {
        if let a = resolved[s] { return a }
        guard let (host, port) = try? AgentConfig.parseAddress(s, what: "address"),
              let a = (try? SocketAddress(ipAddress: host, port: port)) ?? (try? SocketAddress.makeAddressResolvingHost(host, port: port))
        else { return nil }
        if resolved.count > 10_000 { resolved.removeAll() }
        resolved[s] = a
        return a
    }

    func tickLoop() async {
        while !Task.isCancelled {
            let wait = max(2, min(instance.nextDeadline - mono(), Millis(max(10, config.probeIntervalMs / 10))))
            try? await Task.sleep(for: .milliseconds(wait))
            let now = mono()
            let ds = instance.tick(now: now)
            await carryOut(ds)
            // at most every 5 s, so churn does not rewrite the file on every event
            if peersDirty && now >= nextPeersSave {
                nextPeersSave = now + 5_000
                savePeers()
            }
        }
    }
}
