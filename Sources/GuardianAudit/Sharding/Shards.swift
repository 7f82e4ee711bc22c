import CGit2
import Dispatch
import Foundation
import GuardianCore
import GuardianCrypto

/// One file of a sharded audit: its path in the audited tree and its blob id (20 bytes).
public struct ShardFile: Sendable, Hashable {
    public var path: String
    public var blob: [UInt8]
    public init(path: String, blob: [UInt8]) { self.path = path; self.blob = blob }
}

/// What a shard owner is asked to analyse: files of one commit of one project, with the analyzer
/// and limits the primary uses (facts from another analyzer version would change the report).
public struct ShardWork: Sendable, Equatable {
    public var project: String
    public var commit: String
    public var index: Int
    public var analyzer: String
    public var limits: AnalysisLimits
    public var files: [ShardFile]

    public init(project: String, commit: String, index: Int, limits: AnalysisLimits, files: [ShardFile]) {
        self.project = project; self.commit = commit; self.index = index
        self.analyzer = Shards.analyzer(limits); self.limits = limits; self.files = files
    }
}

/// The sharded part of an audit. The primary splits the files it has no cached facts for into
/// shards by path; each shard's owner reads the blobs (from its mirror, or from a pack a peer
/// sent), analyses them with the same analyzer and limits, and returns the facts signed with its
/// node key. The primary verifies them and runs the checks over all files exactly as an
/// unsharded audit does, so the report is the same.
public enum Shards {
    public static let payloadType = "application/vnd.guardian.shard-facts+binary"
    static let magic = Array("guardian-shard-facts-v1".utf8)

    /// The analyzer version and limits: facts are interchangeable only when these are equal.
    public static func analyzer(_ limits: AnalysisLimits) -> String { "\(FileAnalyzer.version)|\(limits.cacheTag)" }

    /// Splits path-sorted files into at most `count` contiguous ranges of nearly equal size.
    public static func split(_ files: [ShardFile], into count: Int) -> [[ShardFile]] {
        let sorted = files.sorted { $0.path < $1.path }
        let n = max(1, min(count, sorted.count))
        guard !sorted.isEmpty else { return [] }
        return (0..<n).map { i in Array(sorted[(i * sorted.count / n)..<((i + 1) * sorted.count / n)]) }
    }

    /// The blobs of `files` found in none of `repositories` (missing repositories hold nothing).
    public static func missing(_ files: [ShardFile], in repositories: [String]) -> [[UInt8]] {
        let repos = repositories.compactMap { try? GitRepository(path: $0) }
        var seen: Set<[UInt8]> = []
        return files.compactMap { f in
            guard seen.insert(f.blob).inserted, let o = GitRepository.oid(f.blob) else { return nil }
            return repos.contains { $0.has(o) } ? nil : f.blob
        }
    }

    /// Encoded facts for each file, analysed on `jobs` threads; blobs are read from the first of
    /// `repositories` that holds them. Throws when a blob is in none of them.
    public static func analyse(_ work: ShardWork, in repositories: [String], jobs: Int) throws -> [[UInt8]] {
        guard work.analyzer == analyzer(work.limits) else {
            throw GuardianError.usage("shard asks for analyzer \(work.analyzer); this node runs \(analyzer(work.limits))")
        }
        // repositories that do not exist (no mirror here yet) hold nothing
        let present = repositories.filter { GitRepository.isRepository($0) }
        let items = try work.files.map { f -> (path: String, oid: git_oid) in
            guard let o = GitRepository.oid(f.blob) else { throw GuardianError.usage("a blob id is 20 bytes") }
            return (f.path, o)
        }
        let facts = try Auditor.analyseBlobs(items, in: present, limits: work.limits, jobs: jobs)
        return try zip(work.files, facts).map { f, facts in
            guard let facts else { throw GuardianError.repository("blob \(Sodium.hex(f.blob)) of \(f.path) is not here or cannot be read") }
            return facts.encoded()
        }
    }

    /// A pack built with libgit2 holding `blobs` from `repository` (for a peer that lacks them).
    public static func pack(_ blobs: [[UInt8]], from repository: String) throws -> [UInt8] {
        let oids = try blobs.map { b -> git_oid in
            guard let o = GitRepository.oid(b) else { throw GuardianError.usage("a blob id is 20 bytes") }
            return o
        }
        return try GitRepository(path: repository).pack(oids)
    }

    /// Stores a pack a peer sent into `repository` (created bare if absent).
    public static func unpack(_ pack: [UInt8], into repository: String) throws {
        try GitRepository.openOrInitBare(repository).writePack(pack)
    }

    /// Bounds a repository of objects received from peers: one pack is added per shard served, and
    /// every lookup reads each pack's index, so past `maxPacks` packs the repository is removed and
    /// the next shards ask for their blobs again. Returns true when it was removed.
    @discardableResult
    public static func prune(_ repository: String, maxPacks: Int) -> Bool {
        let packs = (try? FileManager.default.contentsOfDirectory(atPath: repository + "/objects/pack")) ?? []
        guard packs.filter({ $0.hasSuffix(".pack") }).count > maxPacks else { return false }
        return (try? FileManager.default.removeItem(atPath: repository)) != nil
    }

    /// The owner's signed answer: a DSSE envelope over the work's identity and the facts.
    public static func sign(_ work: ShardWork, facts: [[UInt8]], key: SigningKey) -> [UInt8] {
        var w = BinaryWriter()
        w.bytes = magic
        w.str(work.analyzer); w.str(work.project); w.str(work.commit); w.u(UInt64(work.index))
        w.u(UInt64(work.files.count))
        for (f, bytes) in zip(work.files, facts) {
            w.str(f.path); w.bytes += f.blob
            w.u(UInt64(bytes.count)); w.bytes += bytes
        }
        return DSSE.sign(payload: w.bytes, payloadType: payloadType, key: key)
    }

    /// Verifies an owner's answer to `work`: the signature is `signer`'s, and the payload names the
    /// same analyzer, project, commit and shard and exactly the files asked for, in order. Returns
    /// the encoded facts, one per file.
    public static func open(_ envelope: [UInt8], signer: VerifyingKey, work: ShardWork) throws -> [[UInt8]] {
        let v = try DSSE.verify(envelope, trusted: [signer.nodeID.value: signer])
        guard v.payloadType == payloadType else { throw GuardianError.usage("not shard facts: payload type \(v.payloadType)") }
        var r = BinaryReader(v.payload)
        do {
            guard v.payload.count >= magic.count, Array(v.payload[0..<magic.count]) == magic else { throw CodecError() }
            r.pos = magic.count
            let analyzer = try r.str(), project = try r.str(), commit = try r.str(), index = try r.int()
            guard analyzer == work.analyzer, project == work.project, commit == work.commit, index == work.index else {
                throw GuardianError.usage("shard facts are for \(project)@\(commit) shard \(index) (\(analyzer)), not the shard asked for")
            }
            guard try r.int() == work.files.count else { throw GuardianError.usage("shard facts cover another number of files") }
            var out: [[UInt8]] = []
            out.reserveCapacity(work.files.count)
            for f in work.files {
                let path = try r.str(), blob = try r.take(20)
                guard path == f.path, blob == f.blob else { throw GuardianError.usage("shard facts name \(path), expected \(f.path)") }
                out.append(try r.take(try r.int()))
            }
            guard r.pos == v.payload.count else { throw CodecError() }
            return out
        } catch is CodecError {
            throw GuardianError.usage("shard facts are malformed")
        }
    }
}

/// The messages of a shard exchange over one stream: the primary sends `work`; the owner asks
/// for the blobs it lacks (`need`), which the primary sends as a pack in chunks, then answers
/// with its signed facts (`done`) or says why it cannot (`refused`).
public enum ShardMessage: Sendable, Equatable {
    case work(ShardWork)
    case need([[UInt8]])
    case pack([UInt8], last: Bool)
    case done([UInt8])
    case refused(String)

    /// Bounds that a decoder enforces before allocating.
    public static let maxFiles = 1_000_000

    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        switch self {
        case .work(let s):
            w.bytes.append(1)
            w.str(s.project); w.str(s.commit); w.u(UInt64(s.index)); w.str(s.analyzer)
            w.u(UInt64(s.limits.maxFileBytes)); w.u(UInt64(s.limits.maxLineBytes))
            w.u(UInt64(s.files.count))
            for f in s.files { w.str(f.path); w.bytes += f.blob }
        case .need(let blobs):
            w.bytes.append(2)
            w.u(UInt64(blobs.count))
            for b in blobs { w.bytes += b }
        case .pack(let bytes, let last):
            w.bytes.append(3); w.bool(last); w.u(UInt64(bytes.count)); w.bytes += bytes
        case .done(let envelope):
            w.bytes.append(4); w.u(UInt64(envelope.count)); w.bytes += envelope
        case .refused(let why):
            w.bytes.append(5); w.str(why)
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> ShardMessage {
        var r = BinaryReader(bytes)
        func count() throws -> Int {
            let n = try r.int()
            guard n >= 0, n <= maxFiles, n <= bytes.count - r.pos else { throw GuardianError.usage("shard message: count \(n) is out of range") }
            return n
        }
        let m: ShardMessage
        do {
            guard !bytes.isEmpty else { throw GuardianError.usage("shard message is empty") }
            r.pos = 1
            switch bytes[0] {
            case 1:
                let project = try r.str(), commit = try r.str(), index = try r.int(), analyzer = try r.str()
                var limits = AnalysisLimits()
                limits.maxFileBytes = try r.int(); limits.maxLineBytes = try r.int()
                var files: [ShardFile] = []
                for _ in 0..<(try count()) { files.append(ShardFile(path: try r.str(), blob: try r.take(20))) }
                guard commit.count == 40, commit.allSatisfy(\.isHexDigit), !project.isEmpty else {
                    throw GuardianError.usage("shard message: bad project or commit")
                }
                var work = ShardWork(project: project, commit: commit, index: index, limits: limits, files: files)
                work.analyzer = analyzer
                m = .work(work)
            case 2:
                var blobs: [[UInt8]] = []
                for _ in 0..<(try count()) { blobs.append(try r.take(20)) }
                m = .need(blobs)
            case 3:
                let last = try r.bool()
                m = .pack(try r.take(try r.int()), last: last)
            case 4:
                let envelope = try r.take(try r.int())
                guard !envelope.isEmpty else { throw GuardianError.usage("shard message: empty answer") }
                m = .done(envelope)
            case 5:
                m = .refused(try r.str())
            default:
                throw GuardianError.usage("shard message: unknown kind \(bytes[0])")
            }
        } catch is CodecError {
            throw GuardianError.usage("shard message is truncated or malformed")
        }
        guard r.pos == bytes.count else { throw GuardianError.usage("shard message has trailing bytes") }
        return m
    }
}

extension BinaryReader {
    /// The next `n` bytes.
    mutating func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, n <= bytes.count - pos else { throw CodecError() }
        defer { pos += n }
        return Array(bytes[pos..<pos + n])
    }
}
