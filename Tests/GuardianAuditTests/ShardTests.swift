import Foundation
import GuardianCore
import GuardianCrypto
import GuardianTestKit
import Synchronization
import Testing
@testable import GuardianAudit

/// Sharded audits in one process: shards analysed from blobs a pack carried into another
/// repository, signed and verified, give the same report as an unsharded audit.
@Suite struct ShardTests {
    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "guardian-shard-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// A shard owner that has no copy of the repository: it receives a pack of exactly the blobs it
    /// lacks (built with libgit2 from the primary's repository), analyses, and signs.
    static func remoteOwner(primary: String, work: ShardWork, key: SigningKey) throws -> [UInt8] {
        let store = tempDir() + "/objects.git"
        let lacking = Shards.missing(work.files, in: [store])
        #expect(lacking.count == Set(work.files.map(\.blob)).count)
        try Shards.unpack(try Shards.pack(lacking, from: primary), into: store)
        #expect(Shards.missing(work.files, in: [store]).isEmpty)
        let facts = try Shards.analyse(work, in: [store], jobs: 2)
        return Shards.sign(work, facts: facts, key: key)
    }

    @Test(arguments: [1, 3, 7]) func shardedAuditEqualsUnshardedAudit(shards: Int) throws {
        let repo = try Planted.make()
        let unsharded = try PlantedAuditTests.audit(repo) { $0.reproducible = true }
        let key = try SigningKey(seed: Sodium.randomBytes(32))
        let asked = Mutex<[Int]>([])
        let sharded = try PlantedAuditTests.audit(repo) { o in
            o.reproducible = true
            o.shardMinFiles = 1
            o.shardAnalysis = { commit, files in
                var answers: [[UInt8]?] = Array(repeating: nil, count: files.count)
                let position = Dictionary(uniqueKeysWithValues: files.enumerated().map { ($1.path, $0) })
                for (i, part) in Shards.split(files, into: shards).enumerated() {
                    let work = ShardWork(project: "p", commit: commit, index: i, limits: AnalysisLimits(), files: part)
                    guard let envelope = try? Self.remoteOwner(primary: repo.path, work: work, key: key),
                          let facts = try? Shards.open(envelope, signer: key.verifyingKey, work: work) else { continue }
                    for (f, bytes) in zip(part, facts) { answers[position[f.path]!] = bytes }
                    asked.withLock { $0.append(part.count) }
                }
                return answers
            }
        }
        #expect(try ReportRenderer.json(sharded) == ReportRenderer.json(unsharded))
        let counts = asked.withLock { $0 }
        #expect(counts.count == min(shards, counts.reduce(0, +)))
        #expect(counts.reduce(0, +) == unsharded.statistics.files - unsharded.skippedFiles.filter { $0.reason.hasPrefix("symlink") || $0.reason.hasPrefix("submodule") }.count)
        #expect(counts.max()! - counts.min()! <= 1, "shards are balanced by file count: \(counts)")
    }

    @Test func aShardThatNeverAnswersIsAnalysedLocally() throws {
        let repo = try Planted.make()
        let unsharded = try PlantedAuditTests.audit(repo) { $0.reproducible = true }
        let sharded = try PlantedAuditTests.audit(repo) { o in
            o.reproducible = true
            o.shardMinFiles = 1
            // half the files answered with garbage, half not at all: both analysed here
            o.shardAnalysis = { _, files in files.indices.map { $0 % 2 == 0 ? nil : [0xff, 0x00] } }
        }
        #expect(try ReportRenderer.json(sharded) == ReportRenderer.json(unsharded))
    }

    @Test func shardFactsAreCheckedBeforeUse() throws {
        let repo = try Planted.make()
        let files = [ShardFile(path: "notes.txt", blob: try Self.blob(repo, "notes.txt"))]
        let head = try repo.git("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
        let work = ShardWork(project: "p", commit: head, index: 0, limits: AnalysisLimits(), files: files)
        let key = try SigningKey(seed: Sodium.randomBytes(32))
        let other = try SigningKey(seed: Sodium.randomBytes(32))
        let good = Shards.sign(work, facts: try Shards.analyse(work, in: [repo.path], jobs: 1), key: key)
        #expect(try Shards.open(good, signer: key.verifyingKey, work: work).count == 1)

        // another node's signature, a flipped byte, an answer to another shard or file list
        #expect(throws: (any Error).self) { try Shards.open(good, signer: other.verifyingKey, work: work) }
        var flipped = good
        flipped[flipped.count / 3] ^= 0x01
        #expect(throws: (any Error).self) { try Shards.open(flipped, signer: key.verifyingKey, work: work) }
        var shifted = work
        shifted.index = 1
        #expect(throws: (any Error).self) { try Shards.open(good, signer: key.verifyingKey, work: shifted) }
        var renamed = work
        renamed.files[0].path = "OTHER.md"
        #expect(throws: (any Error).self) { try Shards.open(good, signer: key.verifyingKey, work: renamed) }
        // an owner with another analyzer or limits refuses the work
        var limits = AnalysisLimits()
        limits.maxFileBytes = 10
        var foreign = ShardWork(project: "p", commit: head, index: 0, limits: limits, files: files)
        foreign.analyzer = "guardian-analyzer/0|max=1;line=1"
        #expect(throws: (any Error).self) { try Shards.analyse(foreign, in: [repo.path], jobs: 1) }
        // a blob that is in no repository here
        let absent = ShardWork(project: "p", commit: head, index: 0, limits: AnalysisLimits(),
                               files: [ShardFile(path: "x", blob: Array(repeating: 7, count: 20))])
        #expect(throws: (any Error).self) { try Shards.analyse(absent, in: [repo.path], jobs: 1) }
    }

    /// Found by `guardian-bench fuzz`: a varint over `Int.max` where a length or a limit sits
    /// trapped the decoder (a member could stop any node with one shard message).
    @Test func numbersPastIntMaxAreErrorsNotTraps() throws {
        let work = ShardMessage.work(ShardWork(project: "p", commit: String(repeating: "a", count: 40), index: 0, limits: AnalysisLimits(), files: []))
        var bytes = work.encoded()
        // the varint of maxFileBytes follows the project, commit, index and analyzer strings
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] // 2^64 - 1
        var r = 1
        for _ in 0..<2 { let n = Int(bytes[r]); r += 1 + n } // project, commit (one-byte lengths here)
        r += 1 // index
        let analyzerLength = Int(bytes[r]); r += 1 + analyzerLength
        var maxFile = r
        while bytes[maxFile] & 0x80 != 0 { maxFile += 1 }
        bytes.replaceSubrange(r...maxFile, with: huge)
        #expect(throws: (any Error).self) { try ShardMessage.decode(bytes) }
        // and a length past Int.max before a string or a block
        #expect(throws: (any Error).self) { try ShardMessage.decode([5] + huge + [0x41]) }
        #expect(throws: (any Error).self) { try ShardMessage.decode([4] + huge + [0x41]) }
        #expect(throws: (any Error).self) { try ShardMessage.decode([3, 1] + huge) }
    }

    @Test func damagedPacksAreRefused() throws {
        let repo = try Planted.make()
        let blob = try Self.blob(repo, "notes.txt")
        let pack = try Shards.pack([blob], from: repo.path)
        let store = Self.tempDir() + "/objects.git"
        #expect(throws: (any Error).self) { try Shards.unpack(Array("PACK not really".utf8), into: store) }
        var flipped = pack
        flipped[flipped.count / 2] ^= 0x01
        #expect(throws: (any Error).self) { try Shards.unpack(flipped, into: store) }
        #expect(Shards.missing([ShardFile(path: "notes.txt", blob: blob)], in: [store]).count == 1)
        try Shards.unpack(pack, into: store)
        #expect(Shards.missing([ShardFile(path: "notes.txt", blob: blob)], in: [store]).isEmpty)

        // a repository of received objects is emptied once it holds more packs than allowed
        let other = try Self.blob(repo, "app/planted.py")
        try Shards.unpack(try Shards.pack([other], from: repo.path), into: store)
        #expect(!Shards.prune(store, maxPacks: 2))
        #expect(Shards.missing([ShardFile(path: "notes.txt", blob: blob)], in: [store]).isEmpty)
        #expect(Shards.prune(store, maxPacks: 1))
        #expect(Shards.missing([ShardFile(path: "notes.txt", blob: blob)], in: [store]).count == 1)
    }

    @Test func shardMessagesRoundTripAndMalformedOnesAreRejected() throws {
        let work = ShardWork(project: "p", commit: String(repeating: "a", count: 40), index: 2, limits: AnalysisLimits(),
                             files: [ShardFile(path: "a/b.swift", blob: Array(repeating: 1, count: 20))])
        let messages: [ShardMessage] = [.work(work), .need([Array(repeating: 2, count: 20)]), .pack([1, 2, 3], last: true),
                                        .done([9, 9]), .refused("no such project")]
        for m in messages { #expect(try ShardMessage.decode(m.encoded()) == m) }
        let bad: [[UInt8]] = [
            [], [0], [9], // empty, unknown kinds
            Array(ShardMessage.work(work).encoded().dropLast()), // truncated
            ShardMessage.need([]).encoded() + [0], // trailing byte
            [2, 0xff, 0xff, 0xff, 0x7f], // a count larger than the message
            [4, 0], // an empty answer
            ShardMessage.work(ShardWork(project: "p", commit: "HEAD", index: 0, limits: AnalysisLimits(), files: [])).encoded(),
        ]
        for b in bad { #expect(throws: (any Error).self, "\(b.prefix(8))") { try ShardMessage.decode(b) } }
    }

    static func blob(_ repo: FixtureRepo, _ path: String) throws -> [UInt8] {
        let hex = try repo.git("rev-parse", "HEAD:\(path)").trimmingCharacters(in: .whitespacesAndNewlines)
        return stride(from: 0, to: hex.count, by: 2).map { i in
            UInt8(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 2)], radix: 16)!
        }
    }
}
