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

/// TCP streams between members: the hello that proves the cluster key, sealed frames, push-pull
/// full-state syncs, and the streams other parts (registry, results, shards) open.
extension MeshShell {
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

    func admitUnauthenticated(_ address: String) -> Bool { pending.admit(address) }

    func releaseUnauthenticated(_ address: String) { pending.release(address) }

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

    func sealedState() -> ByteBuffer {
        sealed(.pushPull, Wire.encode(states: instance.state))
    }

    func mergeFrame(_ frame: ByteBuffer, from peer: String) async -> Bool {
        guard let plain = opened(frame, .pushPull) else { return false }
        guard let states = try? Wire.decodeStates(plain) else { refuse("malformed"); return false }
        let kept = states.filter { bound(.alive(incarnation: $0.incarnation, meta: $0.meta)) }
        if kept.count != states.count { refuse("bad_identity") }
        let now = mono()
        let ds = instance.merge(kept, from: peer, now: now)
        await carryOut(ds)
        return true
    }

    /// Answers a stream from a peer. Its first frame must be a hello that opens with the cluster key,
    /// within `helloSeconds` and within `FrameLimit.unauthenticated` bytes; until then the
    /// connection counts against `PendingConnections` (per source address and in all). Then: a push-pull (read its state and merge
    /// it, answer with ours), a registry session, a result sync or a shard.
    func serve(_ conn: FramedChannel, limit: FrameLimit) async {
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
            try await withDeadline(seconds: Double(max(300, self.config.shardTimeoutSeconds)), "a stream") {
                var it = inbound.makeAsyncIterator()
                guard await self.isHello(try await it.next()) else { return }
                deadline.cancel()
                limit.open()
                await self.releaseUnauthenticated(source)
                try await outbound.write(await self.sealed(.hello, Self.helloMessage))
                guard let frame = try await it.next() else { return }
                switch frame.getInteger(at: frame.readerIndex, as: UInt8.self).flatMap(Stream.init) {
                case .pushPull:
                    guard await self.mergeFrame(frame, from: "push-pull") else { return }
                    let mine = await self.sealedState()
                    try await outbound.write(mine)
                case .registry:
                    guard let registrySync = await self.registrySync else { return }
                    var next: ByteBuffer? = frame
                    while let f = next, let reply = try await registrySync.session(f) {
                        try await outbound.write(reply)
                        next = try await it.next()
                    }
                case .results:
                    guard let results = await self.results else { return }
                    try await results.serveResults(first: frame, &it, outbound)
                case .shards:
                    guard let shards = await self.shards else { return }
                    try await shards.serveShards(first: frame, &it, outbound)
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
            try await withDeadline(seconds: seconds, "a stream to \(address)") {
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
        let mine = sealedState()
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
        await registrySync?.sync(with: address)
        return true
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
}
