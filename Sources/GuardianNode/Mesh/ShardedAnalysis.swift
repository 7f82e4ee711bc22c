import GuardianStore
import Dispatch
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Metrics
import NIOCore

/// One shard of a sharded audit, as the audit task reports it.
public struct ShardRun: Codable, Sendable, Equatable {
    public var index: Int
    public var files: Int
    /// The member that analysed the shard (after any reassignment).
    public var owner: String
    /// Members asked before it that did not answer (dead, refused, timed out, a bad answer), in order.
    public var failed: [String]
    /// Bytes of the pack of blobs sent to the owner (0 when it held them, or for this node's own shard).
    public var packBytes: Int
    public var seconds: Double
}

/// Runs blocking work (libgit2, analysis) on a Dispatch thread, off Swift's cooperative pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        DispatchQueue.global().async { c.resume(with: Result { try body() }) }
    }
}

/// Sharded audits (docs/mesh.md, "Sharded audits"). The primary splits the files an audit has to
/// analyse into one shard per live member by path, and gives each member one shard: the live
/// members sorted by name, rotated by the hash of `project/commit`. An owner that lacks some blobs asks for them and
/// receives a pack built with libgit2 from the primary's mirror, over the same stream (never from
/// the origin), analyses its shard and answers with the facts signed by its node key. The primary
/// verifies each answer against the owner's member key before using it. A shard whose owner dies
/// (the failure detector stops counting it as live), refuses, times out or answers badly goes to
/// the next member of that rotation (the primary analyses it itself when its turn comes).
///
/// Apart from the membership shell: it reaches members through the shell's streams, and the shell
/// hands it the shard streams members open.
public struct ShardedAnalysis: Sendable {
    let mesh: MeshShell
    let config: AgentConfig
    let logger: Logger
    /// Which projects are registered here (a shard is analysed only for those), and their mirrors.
    let store: Store
    let dataDir: DataDirectory
    /// Signs the facts this node answers with.
    let signer: SigningKey

    public init(mesh: MeshShell, config: AgentConfig, logger: Logger, store: Store, dataDir: DataDirectory, signer: SigningKey) {
        (self.mesh, self.config, self.logger, self.store, self.dataDir, self.signer) = (mesh, config, logger, store, dataDir, signer)
    }

    /// Bytes of pack carried in one frame (frames are at most 16 MB).
    static let packChunk = 8 << 20
    /// Most bytes of pack an owner accepts for one shard.
    static let maxPack = 1 << 30
    /// Packs kept per project in `peer-objects/` before it is emptied (Shards.prune).
    static let maxPeerPacks = 64

    /// Analyses `files` of `commit` in shards across the live members. Returns the encoded facts
    /// per file (nil where no shard answered: the caller analyses those itself) and what each shard
    /// did. With no other live member there is nothing to shard: every answer is nil.
    public func analyseShards(project: String, commit: String, files: [ShardFile], limits: AnalysisLimits,
                                          mirror: String) async -> (facts: [[UInt8]?], runs: [ShardRun]) {
        let ring = await mesh.ring()
        guard ring.nodes.count > 1, !files.isEmpty else { return (Array(repeating: nil, count: files.count), []) }
        let members = ring.nodes.map(\.name).sorted()
        let parts = Shards.split(files, into: members.count)
        let offset = Int(Ring.position(of: "\(project)/\(commit)") % UInt64(members.count))
        let runs = await withTaskGroup(of: (ShardRun, [[UInt8]]?).self) { g in
            for (i, part) in parts.enumerated() {
                let work = ShardWork(project: project, commit: commit, index: i, limits: limits, files: part)
                let candidates = members.indices.map { members[(offset + i + $0) % members.count] }
                g.addTask { await self.runShard(work, candidates: candidates, mirror: mirror) }
            }
            var out: [(ShardRun, [[UInt8]]?)] = []
            for await r in g { out.append(r) }
            return out.sorted { $0.0.index < $1.0.index }
        }
        var answers: [[UInt8]?] = Array(repeating: nil, count: files.count)
        let position = Dictionary(files.enumerated().map { ($1.path, $0) }, uniquingKeysWith: { a, _ in a })
        for ((_, facts), part) in zip(runs, parts) {
            guard let facts else { continue }
            for (f, bytes) in zip(part, facts) { if let p = position[f.path] { answers[p] = bytes } }
        }
        return (answers, runs.map(\.0))
    }

    /// One shard: each candidate in turn until one answers; this node (last) analyses it itself.
    private func runShard(_ work: ShardWork, candidates: [String], mirror: String) async -> (ShardRun, [[UInt8]]?) {
        let clock = ContinuousClock(), start = clock.now
        var run = ShardRun(index: work.index, files: work.files.count, owner: "", failed: [], packBytes: 0, seconds: 0)
        func finish(_ owner: String, _ facts: [[UInt8]]?) -> (ShardRun, [[UInt8]]?) {
            run.owner = owner
            run.seconds = (start.duration(to: clock.now).milliseconds / 10).rounded() / 100
            return (run, facts)
        }
        for owner in candidates {
            if owner == config.name {
                let cores = ProcessInfo.processInfo.activeProcessorCount
                do { return finish(owner, try await offPool { try Shards.analyse(work, in: [mirror], jobs: cores) }) } catch {
                    logger.warning("mesh: shard \(work.index) of \(work.project) failed here", metadata: ["error": "\(error)"])
                    return finish(owner, nil)
                }
            }
            guard let (address, key) = await mesh.liveMember(owner) else { run.failed.append(owner); continue }
            Metrics.Counter(label: "guardian_shards_sent_total").increment()
            do {
                let (facts, packed) = try await askShard(work, of: owner, at: address, key: key, mirror: mirror)
                run.packBytes += packed
                return finish(owner, facts)
            } catch {
                run.failed.append(owner)
                Metrics.Counter(label: "guardian_shards_reassigned_total").increment()
                logger.warning("mesh: shard \(work.index) of \(work.project) on \(owner) failed; reassigning", metadata: ["error": "\(error)"])
            }
        }
        return finish(config.name, nil)
    }

    /// Sends the work to `owner`, sends a pack of the blobs it asks for, and returns its verified
    /// facts (and the pack's size). Gives up when the owner stops being live or the shard timeout passes.
    private func askShard(_ work: ShardWork, of owner: String, at address: String, key: VerifyingKey,
                                      mirror: String) async throws -> ([[UInt8]], Int) {
        let asked = Set(work.files.map(\.blob))
        let exchange: @Sendable () async throws -> ([[UInt8]], Int) = {
            try await self.mesh.withStream(to: address, seconds: Double(self.config.shardTimeoutSeconds)) { it, out in
                var packed = 0
                try await out.write(await self.mesh.sealed(.shards, ShardMessage.work(work).encoded()))
                while true {
                    guard let frame = try await it.next() else { throw GuardianError.io("\(owner) closed the stream") }
                    guard let plain = await self.mesh.opened(frame, .shards) else { throw GuardianError.io("a frame from \(owner) did not open") }
                    switch try ShardMessage.decode(plain) {
                    case .need(let blobs):
                        // only blobs of this shard are packed: a stream never reads other objects out of the mirror
                        guard !blobs.isEmpty, packed == 0, blobs.allSatisfy(asked.contains) else { throw GuardianError.io("\(owner) asked for blobs outside its shard") }
                        let pack = try await offPool { try Shards.pack(blobs, from: mirror) }
                        packed = pack.count
                        var offset = 0
                        repeat {
                            let end = min(pack.count, offset + Self.packChunk)
                            try await out.write(await self.mesh.sealed(.shards, ShardMessage.pack(Array(pack[offset..<end]), last: end == pack.count).encoded()))
                            offset = end
                        } while offset < pack.count
                        Metrics.Counter(label: "guardian_shard_pack_bytes_total", dimensions: [("direction", "sent")]).increment(by: pack.count)
                    case .done(let envelope):
                        return (try Shards.open(envelope, signer: key, work: work), packed)
                    case .refused(let why):
                        throw GuardianError.io("\(owner) refused the shard: \(why)")
                    case .work, .pack:
                        throw GuardianError.io("\(owner) answered out of order")
                    }
                }
            }
        }
        // race the exchange against the failure detector: an owner that stops being live loses its shard
        return try await withThrowingTaskGroup(of: ([[UInt8]], Int)?.self) { g in
            g.addTask { try await exchange() }
            g.addTask {
                while await self.mesh.liveMember(owner) != nil { try await Task.sleep(for: .milliseconds(250)) }
                return nil
            }
            defer { g.cancelAll() }
            guard let first = try await g.next(), let answer = first else { throw GuardianError.io("\(owner) is no longer live") }
            return answer
        }
    }

    /// Serves a shard stream: checks the work, asks for the blobs missing here and stores the pack
    /// the primary sends (in `peer-objects/`), analyses the shard and answers with signed facts.
    func serveShards(first: ByteBuffer, _ it: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
                                 _ out: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        func send(_ m: ShardMessage) async throws { try await out.write(await mesh.sealed(.shards, m.encoded())) }
        guard let plain = await mesh.opened(first, .shards) else { return }
        let work: ShardWork
        do {
            guard case .work(let w) = try ShardMessage.decode(plain) else { throw GuardianError.usage("a shard stream starts with work") }
            work = w
        } catch {
            await mesh.refuse("malformed")
            logger.warning("mesh: malformed shard message", metadata: ["error": "\(error)"])
            return
        }
        guard work.analyzer == Shards.analyzer(work.limits) else {
            return try await send(.refused("this node runs \(Shards.analyzer(work.limits)), the shard asks for \(work.analyzer)"))
        }
        guard (try? store.project(id: work.project)) != nil,
              let repositories = try? [dataDir.mirror(work.project), dataDir.peerObjects(work.project)] else {
            return try await send(.refused("project \(work.project) is not registered here"))
        }
        Shards.prune(repositories[1], maxPacks: Self.maxPeerPacks)
        let lacking = try await offPool { Shards.missing(work.files, in: repositories) }
        if !lacking.isEmpty {
            try await send(.need(lacking))
            var pack: [UInt8] = []
            while true {
                guard let frame = try await it.next(), let p = await mesh.opened(frame, .shards) else { throw GuardianError.io("the primary closed the stream mid-pack") }
                guard case .pack(let chunk, let last) = try ShardMessage.decode(p) else { throw GuardianError.io("expected a pack") }
                pack += chunk
                guard pack.count <= Self.maxPack else { return try await send(.refused("the pack is over \(Self.maxPack) bytes")) }
                if last { break }
            }
            Metrics.Counter(label: "guardian_shard_pack_bytes_total", dimensions: [("direction", "received")]).increment(by: pack.count)
            let stored = pack
            do { try await offPool { try Shards.unpack(stored, into: repositories[1]) } } catch {
                return try await send(.refused("the pack was refused: \(error)"))
            }
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let facts: [[UInt8]]
        do { facts = try await offPool { try Shards.analyse(work, in: repositories, jobs: cores) } } catch {
            return try await send(.refused("\(error)"))
        }
        Metrics.Counter(label: "guardian_shards_served_total").increment()
        logger.info("mesh: analysed shard \(work.index) of \(work.project) (\(work.files.count) files, \(lacking.count) blobs from the primary)")
        try await send(.done(Shards.sign(work, facts: facts, key: signer)))
    }
}
