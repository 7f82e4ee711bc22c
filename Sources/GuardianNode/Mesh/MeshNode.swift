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

/// The mesh shell: carries out a `SWIMInstance`'s directives on real sockets. UDP datagrams on the
/// gossip address for probes and gossip; TCP on the same port for push-pull full-state syncs; every
/// datagram and frame sealed with the cluster key (`ClusterSeal`). The instance stays pure: this
/// actor feeds it datagrams and the clock, and sends what it asks.
public actor MeshNode: Service {
    let config: AgentConfig
    private var keyring: ClusterKeyring
    let identity: VerifyingKey
    let signer: SigningKey
    let logger: Logger
    let events: EventBus
    let peersFile: String
    let dataDir: DataDirectory
    private let started = ContinuousClock.now
    private var instance: SWIMInstance?
    private var replay = ReplayWindow()
    /// Member headers of forwarded HTTP requests have their own window (a header opens once).
    private var memberReplay = ReplayWindow()
    /// LAN discovery: its socket, its replay window, and when each announced address was last tried.
    private var discoveryChannel: (any Channel)?
    private var discoveryReplay = ReplayWindow()
    private var discoveryAttempts: [String: Millis] = [:]
    /// The replicated registry this node serves and merges into (nil in tests of membership alone).
    let registry: ReplicatedRegistry?
    /// Result replication (MeshNode+Results.swift): the store, and how verified records are stored.
    var replicas: Replicas?
    /// Projects this node no longer owns, and which owners confirmed holding their results.
    var handoffs: HandoffPlanner
    /// Anti-entropy sessions: which run, and which members the current cycle still owes one
    /// (MeshNode+Results.swift).
    var sessions = SessionSchedule(parallel: MeshNode.parallelSessions)
    /// A session ended while members were waiting for one: a catch-up round is due.
    var catchUpDue = false
    /// When each project was last read-repaired.
    var lastRepair: [String: Millis] = [:]
    /// Where the scrub continues (a result seq).
    var scrubCursor: Int64 = 0
    /// Bumped on every membership change (and when corrupt records were removed): anti-entropy runs soon after.
    var membershipVersion = 0
    private var udp: NIOAsyncChannelOutboundWriter<AddressedEnvelope<ByteBuffer>>?
    private var udpChannel: (any Channel)?
    /// Stream connections that have not yet proved they hold the cluster key.
    private var pending = PendingConnections()
    /// Set when the node shuts down: its sockets are closed on purpose, not bound again.
    private var stopping = false
    private var tcpChannel: (any Channel)?
    private var peersDirty = false
    private var nextPeersSave: Millis = 0
    /// Gossip addresses resolved once (a host name would otherwise be looked up for every datagram).
    private var resolved: [String: SocketAddress] = [:]
    /// Members' public keys by node id, each checked once against its id (not per datagram); pushed
    /// results are verified against them.
    var memberKeys: [String: (text: String, key: VerifyingKey)] = [:]
    /// The ring of the current live members, rebuilt after a membership change.
    private var cachedRing: Ring?
    /// The ring of every member not known to have left, dead ones included: the owners a result is
    /// meant for, and so who gets a hint while down.
    private var cachedIntendedRing: Ring?
    /// The address other members reach this node at (the bound port when the configured one is 0).
    public private(set) var advertised: String
    /// The HTTP address gossiped to members (the bound one, once the server runs).
    private var httpAddress: String

    public init(config: AgentConfig, signer: SigningKey, dataDir: DataDirectory, events: EventBus, logger: Logger,
                registry: ReplicatedRegistry? = nil) throws {
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
        self.registry = registry
        handoffs = HandoffPlanner(me: config.name, grace: Millis(config.handoffGraceSeconds) * 1000)
    }

    /// The HTTP server is bound: gossip its real address (the configured port may be 0, the host
    /// 0.0.0.0, which other hosts cannot use: then the advertised gossip host is given).
    public func setHTTPAddress(host: String, port: Int) {
        var h = host
        if h == "0.0.0.0", let (gossipHost, _) = try? AgentConfig.parseAddress(advertised, what: "address") { h = gossipHost }
        httpAddress = "\(h):\(port)"
        guard var meta = instance?.myself.meta, meta.httpAddress != httpAddress else { return }
        meta.httpAddress = httpAddress
        instance!.update(meta: meta)
    }

    func mono() -> Millis {
        let d = (ContinuousClock.now - started).components
        return Millis(d.seconds * 1000 + d.attoseconds / 1_000_000_000_000_000)
    }
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
        var meta = NodeMeta(name: config.name, id: identity.nodeID.value, publicKey: identity.base64, address: advertised,
                            httpAddress: httpAddress, version: Auditor.version, tags: config.tags)
        if meta.tags["capacity"] == nil { meta.tags["capacity"] = "1" }
        var swim = SWIMInstance.Config()
        swim.probeInterval = Millis(config.probeIntervalMs)
        swim.probeTimeout = swim.probeInterval * 3 / 10
        swim.probeWindow = swim.probeInterval * 8 / 10
        swim.gossipInterval = max(20, swim.probeInterval / 5)
        // Start above any incarnation this identity used before: a restarted node must not be taken
        // for its own dead former self.
        instance = SWIMInstance(me: meta, incarnation: UInt64(wall() / 1000), config: swim, seed: UInt64.random(in: 0...UInt64.max), now: mono())
        logger.notice("mesh: gossip on \(advertised) (UDP and TCP)", metadata: ["name": "\(config.name)"])
        FileHandle.standardError.write(Data("mesh gossip on \(advertised)\n".utf8))

        let (shutdown, shutdownRequested) = AsyncStream<Void>.makeStream()
        try await withGracefulShutdownHandler {
            try await self.serve(datagrams: datagrams, host: host, server: server, until: shutdown)
        } onGracefulShutdown: {
            shutdownRequested.yield()
            shutdownRequested.finish()
        }
    }

    typealias Datagrams = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

    /// A UDP socket (with `SO_BROADCAST` for discovery announcements).
    static func bindUDP(host: String, port: Int, broadcast: Bool = false) async throws -> Datagrams {
        try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.so_broadcast), value: broadcast ? 1 : 0)
            .bind(host: host, port: port) { ch in
                ch.eventLoop.makeCompletedFuture { try Datagrams(wrappingChannelSynchronously: ch) }
            }
    }

    /// UDP and TCP on the same port. With port 0 the kernel picks the UDP port, and that port may
    /// already be taken for TCP (another socket's ephemeral port): then both are released and another
    /// port is tried. A channel that was bound is always closed through `executeThenClose`.
    static func bind(host: String, port: Int) async throws -> (Datagrams, NIOAsyncChannel<(FramedChannel, FrameLimit), Never>, Int) {
        let group = MultiThreadedEventLoopGroup.singleton
        for attempt in 1...20 {
            let datagrams = try await bindUDP(host: host, port: port)
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
    private func serve(datagrams: Datagrams, host: String,
                       server: NIOAsyncChannel<(FramedChannel, FrameLimit), Never>, until shutdown: AsyncStream<Void>) async throws {
        let port = datagrams.channel.localAddress?.port ?? 0
        try await server.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { tasks in
                tasks.addTask {
                    await self.keepBound("gossip", first: datagrams, bind: { try await Self.bindUDP(host: host, port: port) }) { socket in
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
                tasks.addTask { await self.replicateLoop() }
                tasks.addTask { await self.discoveryLoop() }
                tasks.addTask { await self.antiEntropyLoop() }
                tasks.addTask { await self.handoffLoop() }
                for await _ in shutdown { break } // SIGTERM/SIGINT (or the service cancelled)
                await self.leave()
                await self.close()
                tasks.cancelAll()
            }
        }
    }

    /// Runs `body` over a UDP socket, and binds the socket again whenever it closes before the node
    /// stops. NIO closes a datagram socket on a send error it takes for fatal: `EPERM` from a host
    /// firewall that drops outgoing packets, `ENETUNREACH` while an interface is down. Without this
    /// the node would stay deaf and mute for good after such a moment, taken for dead by every member
    /// while it still runs (found by the partition harness: iptables OUTPUT rules cause `EPERM`).
    private nonisolated func keepBound(_ what: String, first: Datagrams, bind: @escaping @Sendable () async throws -> Datagrams,
                                       _ body: @escaping @Sendable (Datagrams) async throws -> Void) async {
        var socket: Datagrams? = first
        var wait = 100
        while !Task.isCancelled, await !stopping {
            if let s = socket {
                socket = nil
                do { try await body(s) } catch {
                    logger.debug("mesh: \(what) socket ended", metadata: ["error": "\(error)"])
                }
                guard !Task.isCancelled, await !stopping else { return }
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

    private func setWriter(_ w: NIOAsyncChannelOutboundWriter<AddressedEnvelope<ByteBuffer>>, _ channel: any Channel) {
        udp = w
        udpChannel = channel
    }

    private func close() async {
        stopping = true
        try? await udpChannel?.close()
        try? await tcpChannel?.close()
        try? await discoveryChannel?.close()
    }

    /// Graceful leave: tell a few members, give the datagrams a moment to go out.
    public func leave() async {
        guard let leaving = instance?.leaving, !leaving else { return }
        let now = mono()
        let ds = instance!.leave(now: now)
        await carryOut(ds)
        try? await Task.sleep(for: .milliseconds(200))
        logger.notice("mesh: left")
    }

    // MARK: keyring

    struct KeyringFile: Codable { var primary: String; var keys: [String] }

    /// The keyring is kept in `DATA_DIR/keyring.json` (mode 0600) once it exists, so rotations made
    /// with `guardian keys` survive restarts; the configured key is installed if it is not there.
    static func loadKeyring(_ dir: DataDirectory, configured: String) throws -> ClusterKeyring {
        let path = dir.file("keyring.json")
        do {
            if let data = FileManager.default.contents(atPath: path) {
                guard let f = try? JSONDecoder().decode(KeyringFile.self, from: data) else {
                    throw GuardianError.io("\(path) is not a keyring file; fix or remove it")
                }
                var ring = try ClusterKeyring(primary: f.primary, others: f.keys)
                try ring.install(configured)
                return ring
            }
            let ring = try ClusterKeyring(primary: configured)
            try saveKeyring(ring, dir)
            return ring
        } catch let e as GuardianError { throw e } catch {
            throw GuardianError.usage("cluster key: \(error)")
        }
    }

    static func saveKeyring(_ ring: ClusterKeyring, _ dir: DataDirectory) throws {
        let f = KeyringFile(primary: ring.primary.text, keys: ring.keys.map(\.text))
        try dir.writeAtomically("keyring.json", [UInt8](try JSONEncoder().encode(f)), mode: 0o600)
    }

    public enum KeyAction: String, Sendable { case install, use, remove }

    /// Installs, makes primary or removes a key, and keeps the change on disk.
    public func changeKey(_ action: KeyAction, _ key: String) throws {
        var ring = keyring
        switch action {
        case .install: try ring.install(key)
        case .use: try ring.use(key)
        case .remove: try ring.remove(key)
        }
        try Self.saveKeyring(ring, dataDir)
        keyring = ring
        logger.notice("mesh: key \(action.rawValue)", metadata: ["keys": "\(ring.keys.count)"])
    }

    /// Key ids (hex of the first 4 bytes of BLAKE2b(key)) and which one seals.
    public func keyIDs() -> (primary: String, all: [String]) {
        (Sodium.hex(keyring.primaryID), keyring.keys.map { Sodium.hex($0.id) })
    }

    // MARK: views

    public struct View: Sendable {
        public var me: Member
        public var members: [Member]
        public var rtt: [String: Millis]
        public var digest: UInt64
    }

    public func view() -> View? {
        guard let s = instance else { return nil }
        return View(me: s.myself, members: s.others.sorted { $0.name < $1.name }, rtt: s.rtt, digest: s.digest)
    }

    /// The consistent-hash ring of the live members this node sees, itself included.
    public func ring() -> Ring? {
        guard let s = instance else { return nil }
        if let cachedRing { return cachedRing }
        let r = Ring(members: s.others, including: s.me)
        cachedRing = r
        return r
    }

    /// The owners a key would have if every member not known to have left were alive.
    public func intendedOwners(of key: String) -> [String] {
        guard let s = instance else { return [config.name] }
        if cachedIntendedRing == nil {
            let nodes = s.others.filter { $0.status != .left }.map { Ring.Node(name: $0.name, capacity: $0.meta.capacity) }
                + [Ring.Node(name: s.me.name, capacity: s.me.capacity)]
            cachedIntendedRing = Ring(nodes: nodes)
        }
        return cachedIntendedRing!.owners(of: key, count: config.replicationFactor)
    }

    // MARK: datagrams

    private func datagram(_ bytes: [UInt8], from address: SocketAddress) async {
        guard instance != nil, let plain = open(bytes, .datagram, maxSize: Wire.maxDatagram) else { return }
        guard let message = try? Wire.decode(plain) else { return refuse("malformed") }
        let kept = message.updates.filter(bound)
        if kept.count != message.updates.count { refuse("bad_identity") }
        let from = "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        let now = mono()
        let ds = instance!.receive(kept.count == message.updates.count ? message : message.replacingUpdates(kept), from: from, now: now)
        await carryOut(ds)
    }

    /// Opens a sealed datagram or frame; a refusal is counted and answered with nil.
    private func open(_ packet: [UInt8], _ context: ClusterSeal.Context, maxSize: Int = Int.max) -> [UInt8]? {
        packet.withUnsafeBytes { open($0, context, maxSize: maxSize) }
    }

    /// The same over bytes in place (a stream frame inside its network buffer).
    private func open(_ packet: UnsafeRawBufferPointer, _ context: ClusterSeal.Context, maxSize: Int = Int.max) -> [UInt8]? {
        do {
            return try ClusterSeal.open(packet, keyring: keyring, context: context, replay: &replay, now: wall(), maxSize: maxSize)
        } catch {
            refuse(error.rawValue)
            return nil
        }
    }

    /// An alive update must carry a public key whose node id is the one it claims.
    private func bound(_ u: Update) -> Bool {
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

    private func carryOut(_ ds: [SWIMInstance.Directive]) async {
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
            }
        }
    }

    private func socketAddress(_ s: String) -> SocketAddress? {
        if let a = resolved[s] { return a }
        guard let (host, port) = try? AgentConfig.parseAddress(s, what: "address"),
              let a = (try? SocketAddress(ipAddress: host, port: port)) ?? (try? SocketAddress.makeAddressResolvingHost(host, port: port))
        else { return nil }
        if resolved.count > 10_000 { resolved.removeAll() }
        resolved[s] = a
        return a
    }

    private func tickLoop() async {
        while !Task.isCancelled {
            guard let deadline = instance?.nextDeadline else { return }
            let wait = max(2, min(deadline - mono(), Millis(max(10, config.probeIntervalMs / 10))))
            try? await Task.sleep(for: .milliseconds(wait))
            // read the instance again: datagrams and syncs changed it while this task slept
            guard instance != nil else { return }
            let now = mono()
            let ds = instance!.tick(now: now)
            await carryOut(ds)
            // at most every 5 s, so churn does not rewrite the file on every event
            if peersDirty && now >= nextPeersSave {
                nextPeersSave = now + 5_000
                savePeers()
            }
        }
    }

    // MARK: push-pull

    /// What a TCP stream carries, in the byte before its first sealed frame.
    enum Stream: UInt8 {
        case pushPull = 1, registry = 2, results = 3, shards = 4
        /// The first frame of every connection, both ways (`handshake`).
        case hello = 5
        var context: ClusterSeal.Context {
            switch self { case .pushPull: .stream; case .registry: .registry; case .results: .results; case .shards: .shards; case .hello: .hello }
        }
    }

    /// What a hello carries (its proof is that it opens with the cluster key, once).
    static let helloMessage = Array("guardian-stream-v2".utf8)
    /// How long a connection may take to prove it holds the cluster key.
    static let helloSeconds: Int64 = 2

    /// Whether `frame` is a hello that opens (and was not seen before).
    func isHello(_ frame: ByteBuffer?) -> Bool {
        guard let frame, let plain = opened(frame, .hello) else { return false }
        return plain == Self.helloMessage
    }

    private func admitUnauthenticated(_ address: String) -> Bool { pending.admit(address) }

    private func releaseUnauthenticated(_ address: String) { pending.release(address) }

    /// A stream frame: the stream's kind, then the sealed message, sealed straight into the buffer
    /// that goes to the socket (a results frame is up to 8 MB; each copy on the way was a fresh
    /// allocation that the kernel zeroed, and they were a fifth of the CPU while a backlog moved).
    func sealed(_ kind: Stream, _ message: [UInt8]) -> ByteBuffer {
        let size = ClusterSeal.overhead + message.count
        var buffer = ByteBufferAllocator().buffer(capacity: 1 + size)
        buffer.writeInteger(kind.rawValue)
        let (keyring, now) = (keyring, wall())
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            ClusterSeal.seal(message, keyring: keyring, context: kind.context, now: now, into: UnsafeMutableRawBufferPointer(rebasing: out[0..<size]))
            return size
        }
        return buffer
    }

    /// Opens a stream frame where it lies in the network buffer.
    func opened(_ frame: ByteBuffer, _ kind: Stream) -> [UInt8]? {
        guard frame.getInteger(at: frame.readerIndex, as: UInt8.self) == kind.rawValue else { refuse("malformed"); return nil }
        return frame.withUnsafeReadableBytes { open(UnsafeRawBufferPointer(rebasing: $0[1...]), kind.context) }
    }

    private func sealedState() -> ByteBuffer? {
        guard let s = instance else { return nil }
        return sealed(.pushPull, Wire.encode(states: s.state))
    }

    private func mergeFrame(_ frame: ByteBuffer, from peer: String) async -> Bool {
        guard let plain = opened(frame, .pushPull) else { return false }
        guard let states = try? Wire.decodeStates(plain) else { refuse("malformed"); return false }
        let kept = states.filter { bound(.alive(incarnation: $0.incarnation, meta: $0.meta)) }
        if kept.count != states.count { refuse("bad_identity") }
        guard instance != nil else { return false }
        let now = mono()
        let ds = instance!.merge(kept, from: peer, now: now)
        await carryOut(ds)
        return true
    }

    /// Answers a stream from a peer. Its first frame must be a hello that opens with the cluster key,
    /// within `helloSeconds` and within `FrameLimit.unauthenticated` bytes; until then the
    /// connection counts against `PendingConnections` (per source address and in all). Then: a push-pull (read its state and merge
    /// it, answer with ours), a registry session, a result sync or a shard.
    private func serve(_ conn: FramedChannel, limit: FrameLimit) async {
        let source = conn.channel.remoteAddress?.ipAddress ?? "?"
        guard admitUnauthenticated(source) else {
            refuse("too_many_connections")
            try? await conn.channel.close()
            return
        }
        let channel = conn.channel
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(Self.helloSeconds)) { channel.close(promise: nil) }
        try? await conn.executeThenClose { inbound, outbound in
            // a result sync may carry a large backlog and a shard is analysed while the stream waits;
            // everything else is a few frames
            try await Self.withTimeout(seconds: Double(max(300, self.config.shardTimeoutSeconds))) {
                var it = inbound.makeAsyncIterator()
                guard await self.isHello(try await it.next()) else { return }
                deadline.cancel()
                limit.open()
                await self.releaseUnauthenticated(source)
                try await outbound.write(await self.sealed(.hello, Self.helloMessage))
                guard let frame = try await it.next() else { return }
                switch frame.getInteger(at: frame.readerIndex, as: UInt8.self).flatMap(Stream.init) {
                case .pushPull:
                    guard await self.mergeFrame(frame, from: "push-pull"), let mine = await self.sealedState() else { return }
                    try await outbound.write(mine)
                case .registry:
                    var next: ByteBuffer? = frame
                    while let f = next, let reply = try await self.registrySession(f) {
                        try await outbound.write(reply)
                        next = try await it.next()
                    }
                case .results:
                    try await self.serveResults(first: frame, &it, outbound)
                case .shards:
                    try await self.serveShards(first: frame, &it, outbound)
                case .hello, nil:
                    await self.refuse("malformed")
                }
            }
        }
        deadline.cancel()
        if !limit.isOpen { releaseUnauthenticated(source) }
    }

    /// Opens a connection to a member's gossip address, proves this node holds the cluster key
    /// (hello) and waits for the member to prove it too, then runs `body` over framed messages.
    nonisolated func withStream<T: Sendable>(to address: String, seconds: Double = 10, _ body: @escaping @Sendable (inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
                                                                                          NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> T) async throws -> T {
        let (host, port) = try AgentConfig.parseAddress(address, what: "address")
        let (conn, limit) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .connect(host: host, port: port) { ch in Self.framed(ch) }
        return try await conn.executeThenClose { inbound, outbound in
            try await Self.withTimeout(seconds: seconds) {
                var it = inbound.makeAsyncIterator()
                try await outbound.write(await self.sealed(.hello, Self.helloMessage))
                guard await self.isHello(try await it.next()) else {
                    throw GuardianError.io("\(address) did not prove it holds the cluster key")
                }
                limit.open()
                return try await body(&it, outbound)
            }
        }
    }

    /// One push-pull exchange with the member at `address`; true when states were exchanged.
    @discardableResult
    public func pushPull(with address: String) async -> Bool {
        guard let mine = sealedState() else { return false }
        do {
            return try await withStream(to: address) { it, out in
                try await out.write(mine)
                guard let frame = try await it.next() else { return false }
                return await self.mergeFrame(frame, from: address)
            }
        } catch {
            logger.debug("mesh: push-pull with \(address) failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Push-pull with a member, then registry anti-entropy with it: what joining, the periodic sync
    /// and discovery all do. True when the push-pull answered.
    @discardableResult
    func exchange(with address: String) async -> Bool {
        guard await pushPull(with: address) else { return false }
        await syncRegistry(with: address)
        return true
    }

    // MARK: registry replication

    /// Serves one frame of a registry session; the reply, or nil to end the session.
    private func registrySession(_ frame: ByteBuffer) async throws -> ByteBuffer? {
        guard let registry, let plain = opened(frame, .registry) else { return nil }
        guard let message = try? RegistrySync.decode(plain) else { refuse("malformed"); return nil }
        switch message {
        case .records(let rs):
            let o = try await registry.merge(rs)
            return sealed(.registry, RegistrySync.ack(applied: o.applied, refused: o.refused + o.malformed + o.invalid).encode())
        case .digest(let d):
            if d == (try registry.digest()) { return sealed(.registry, RegistrySync.inSync.encode()) }
            return sealed(.registry, RegistrySync.stamps(try registry.stamps()).encode())
        case .exchange(let rs, let want):
            try await registry.merge(rs)
            return sealed(.registry, RegistrySync.records(try registry.records(want)).encode())
        case .ack, .inSync, .stamps:
            refuse("malformed")
            return nil
        }
    }

    private func registryMessage(_ frame: ByteBuffer?) -> RegistrySync? {
        guard let frame, let plain = opened(frame, .registry) else { return nil }
        guard let m = try? RegistrySync.decode(plain) else { refuse("malformed"); return nil }
        return m
    }

    /// Anti-entropy with one member: digests first (an idle round is two small frames), then exactly
    /// the records that differ, both ways. True when the two registries now agree.
    @discardableResult
    public func syncRegistry(with address: String) async -> Bool {
        guard let registry, let digest = try? registry.digest() else { return false }
        do {
            return try await withStream(to: address) { it, out in
                try await out.write(await self.sealed(.registry, RegistrySync.digest(digest).encode()))
                switch await self.registryMessage(try await it.next()) {
                case .inSync?: return true
                case .stamps(let theirs)?:
                    let (send, want) = RegistrySync.diff(mine: try registry.stamps(), theirs: theirs)
                    let message = RegistrySync.exchange(records: try registry.records(send), want: want)
                    try await out.write(await self.sealed(.registry, message.encode()))
                    guard case .records(let rs)? = await self.registryMessage(try await it.next()) else { return false }
                    try await registry.merge(rs)
                    return true
                default: return false
                }
            }
        } catch {
            logger.debug("mesh: registry sync with \(address) failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Pushes each local registry write to every live member at once; anti-entropy repairs whatever
    /// a push misses (a member down, a lost connection).
    private func replicateLoop() async {
        guard let registry else { return }
        for await record in registry.outbox {
            await send(sealed(.registry, RegistrySync.records([record]).encode()), as: .registry, to: liveOthers.map(\.meta.address))
        }
    }

    /// Sends one sealed frame to each address at once and reads the answers; returns the addresses
    /// that stored everything (result pushes) or answered (registry pushes). Failures are logged.
    @discardableResult
    func send(_ frame: ByteBuffer, as kind: Stream, to addresses: [String]) async -> Set<String> {
        await withTaskGroup(of: String?.self) { g in
            for a in addresses {
                g.addTask {
                    do {
                        let answer = try await self.withStream(to: a) { it, out in
                            try await out.write(frame)
                            return try await it.next()
                        }
                        guard let answer, let plain = await self.opened(answer, kind) else { return nil }
                        guard kind == .results else { return a }
                        guard case .pushed(_, let refused)? = try? ResultSync.decode(plain), refused == 0 else { return nil }
                        return a
                    } catch {
                        self.logger.debug("mesh: \(kind) push to \(a) failed", metadata: ["error": "\(error)"])
                        return nil
                    }
                }
            }
            var answered: Set<String> = []
            for await a in g { if let a { answered.insert(a) } }
            return answered
        }
    }

    // MARK: results to owners

    /// The owners of a key on the current ring (primary first).
    public func owners(of key: String) -> [String] {
        ring()?.owners(of: key, count: config.replicationFactor) ?? [config.name]
    }

    // MARK: LAN discovery (Discovery.swift)

    private func discoveryLoop() async {
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

    private func setDiscoveryChannel(_ channel: any Channel) { discoveryChannel = channel }

    private func sealedAnnouncement() -> [UInt8]? {
        guard let me = instance?.myself, !(instance?.leaving ?? true) else { return nil }
        let a = Discovery.Announcement(name: me.name, id: me.meta.id, publicKey: me.meta.publicKey, address: advertised)
        return ClusterSeal.seal(Discovery.encode(a, signer: signer), keyring: keyring, context: .discovery, now: wall())
    }

    /// An announcement from the LAN: a member this node does not know as alive is joined through a
    /// push-pull (at most once per 10 s per address). Refusals are counted apart from gossip's.
    private func announcement(_ packet: [UInt8]) async {
        func refused(_ reason: String) {
            Metrics.Counter(label: "guardian_discovery_rejected_total", dimensions: [("reason", reason)]).increment()
        }
        let plain: [UInt8]
        do { plain = try ClusterSeal.open(packet, keyring: keyring, context: .discovery, replay: &discoveryReplay, now: wall(), maxSize: 2048) } catch {
            return refused(error.rawValue)
        }
        guard let a = Discovery.decode(plain) else { return refused("bad_signature") }
        guard let s = instance, a.id != s.me.id, a.address != advertised else { return }
        if liveOthers.contains(where: { $0.meta.id == a.id && $0.meta.address == a.address }) { return }
        let now = mono()
        if let last = discoveryAttempts[a.address], now - last < 10_000 { return }
        if discoveryAttempts.count > 10_000 { discoveryAttempts.removeAll() }
        discoveryAttempts[a.address] = now
        if await exchange(with: a.address) {
            logger.notice("mesh: discovered \(a.name) at \(a.address) on the LAN")
        }
    }

    // MARK: member authentication for forwarded HTTP requests

    /// The sealed `X-Guardian-Member` header for a request this node forwards (`MemberClaim`).
    public func sealClaim(_ claim: MemberClaim) -> String {
        Sodium.base64Encode(ClusterSeal.seal(claim.encode(), keyring: keyring, context: .member, now: wall()))
    }

    /// The claim a member header proves, or nil (counted) when it does not open, was seen before,
    /// is stale, or is not a claim. The caller checks that it names this node and the request.
    public func openClaim(_ header: String) -> MemberClaim? {
        guard header.utf8.count <= 16 << 10, let sealed = Sodium.base64Decode(header) else { refuse("malformed"); return nil }
        let plain: [UInt8]
        do { plain = try ClusterSeal.open(sealed, keyring: keyring, context: .member, replay: &memberReplay, now: wall()) } catch {
            refuse(error.rawValue)
            return nil
        }
        guard let claim = MemberClaim.decode(plain) else { refuse("forged"); return nil }
        return claim
    }

    /// HTTP addresses of live members by name (this node included).
    public func httpAddresses() -> [String: String] {
        var out = [config.name: httpAddress]
        for m in liveOthers { out[m.name] = m.meta.httpAddress }
        return out
    }

    /// Other members that are alive or suspect.
    var liveOthers: [Member] { instance?.others.filter(\.status.isLive) ?? [] }

    private func pushPullLoop() async {
        let interval = Double(config.pushPullSeconds)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000 * Double.random(in: 0.75...1.25))))
            guard let leaving = instance?.leaving, !leaving else { continue }
            let peer = instance!.pushPullPeer()
            if let peer {
                await exchange(with: peer.meta.address)
            } else {
                // alone (or everyone forgotten): try the configured and remembered peers again
                for a in config.join + savedPeers() where await exchange(with: a) { break }
            }
        }
    }

    /// Joins through each address, retrying with backoff (1 s doubling to 30 s) until it answers.
    private func joinAll(_ addresses: [String]) async {
        await withDiscardingTaskGroup { group in
            for a in Set(addresses) where a != advertised {
                group.addTask {
                    var delay = 1.0
                    while !Task.isCancelled {
                        if await self.exchange(with: a) {
                            await self.logJoined(a)
                            return
                        }
                        try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                        delay = min(30, delay * 2)
                    }
                }
            }
        }
    }

    private func logJoined(_ a: String) { logger.notice("mesh: joined through \(a)") }

    /// `guardian force-leave NAME`.
    public func forceLeave(_ name: String) async throws {
        guard instance != nil else { throw NodeError(.conflict, "force_leave_refused", "the mesh is not running") }
        let now = mono()
        let ds: [SWIMInstance.Directive]
        do { ds = try instance!.forceLeave(name, now: now) } catch {
            throw NodeError(error.kind == .noSuchMember ? .notFound : .conflict, "force_leave_refused", error.message)
        }
        await carryOut(ds)
    }

    /// `guardian join` at run time: one attempt, answered with the number of members now known.
    public func join(_ address: String) async -> Int? {
        guard await exchange(with: address) else { return nil }
        return instance.map { $0.liveCount }
    }

    // MARK: durable peer list

    private func savedPeers() -> [String] {
        guard let d = FileManager.default.contents(atPath: peersFile), let list = try? JSONDecoder().decode([String].self, from: d) else { return [] }
        return list
    }

    private func savePeers() {
        peersDirty = false
        guard let s = instance else { return }
        let list = s.others.filter { $0.status != .left }.map(\.meta.address).sorted()
        guard let data = try? JSONEncoder().encode(list) else { return }
        try? dataDir.writeAtomically("peers.json", [UInt8](data), mode: 0o600)
        // members' public keys, merged into what was kept before: an offline export names its signers with them
        let keysFile = dataDir.file("member-keys.json")
        var keys = (FileManager.default.contents(atPath: keysFile).flatMap { try? JSONDecoder().decode([String: String].self, from: $0) }) ?? [:]
        let before = keys.count
        for (id, k) in memberKeys { keys[id] = k.text }
        if keys.count != before, let data = try? JSONEncoder().encode(keys) {
            try? dataDir.writeAtomically("member-keys.json", [UInt8](data), mode: 0o600)
        }
    }

    static func withTimeout<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { g in
            g.addTask { try await body() }
            g.addTask {
                try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                throw GuardianError.io("timed out after \(seconds) s")
            }
            defer { g.cancelAll() }
            return try await g.next()!
        }
    }
}
