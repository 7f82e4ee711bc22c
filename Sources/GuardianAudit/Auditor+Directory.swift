import Dispatch
import Foundation
import GuardianCore

/// Plain directories (no git): every file read and keyed by its content, only misses analysed.
extension Auditor {
    static func loadDirectory(path: String, options: AuditOptions, cache: AnalysisCache?) throws -> Loaded {
        var found = try DirectoryWalker.walk(root: path)
        var config = try repositoryConfig { name in
            DirectoryWalker.read(root: path, relative: name, maxBytes: 1 << 20).map { String(decoding: $0, as: UTF8.self) }
        }
        config.addBundledLibraries(found.files)
        found.skipped += found.files.compactMap { f in configured(f, config).map { SkippedFile(path: f, reason: $0) } }
        found.files.removeAll { configured($0, config) != nil }
        let walked = found
        var files: [AuditedFile?] = Array(repeating: nil, count: walked.files.count)
        let slots = Slots<(FileFacts, [UInt8])>(count: walked.files.count)
        let jobs = max(1, min(options.jobs, walked.files.count))
        let limits = options.limits
        // Read and key every file; analyse only cache misses.
        let contents = Slots<[UInt8]>(count: walked.files.count)
        DispatchQueue.concurrentPerform(iterations: jobs) { w in
            var k = w
            while k < walked.files.count {
                contents.items[k] = DirectoryWalker.read(root: path, relative: walked.files[k], maxBytes: 64 << 20)
                k += jobs
            }
        }
        let prefix = blobKeyPrefix(options)
        let keys: [[UInt8]] = walked.files.enumerated().map { k, rel in
            let bytes = contents.items[k] ?? []
            return bytes.withUnsafeBufferPointer { blobKey(prefix: prefix, oid: nil, content: $0, path: rel) }
        }
        let cached = cache?.blobFacts(keys: keys) ?? [:]
        var hits = 0
        DispatchQueue.concurrentPerform(iterations: jobs) { w in
            var k = w
            while k < walked.files.count {
                if cached[Data(keys[k])] == nil, let bytes = contents.items[k] {
                    let rel = walked.files[k]
                    let f = bytes.withUnsafeBufferPointer {
                        FileAnalyzer.analyze(path: rel, buffer: $0, isTest: PathRules.isTest(rel), limits: limits)
                    }
                    slots.items[k] = (f, keys[k])
                }
                k += jobs
            }
        }
        var fresh: [(key: [UInt8], facts: FileFacts)] = []
        var skipped = walked.skipped
        for (k, rel) in walked.files.enumerated() {
            if let f = cached[Data(keys[k])] {
                hits += 1
                files[k] = AuditedFile(path: rel, kind: .blob, facts: f)
            } else if let (f, key) = slots.items[k] {
                files[k] = AuditedFile(path: rel, kind: .blob, facts: f)
                fresh.append((key, f))
            } else {
                skipped.append(SkippedFile(path: rel, reason: "unreadable"))
            }
        }
        cache?.store(blobFacts: fresh)
        let audited = files.compactMap { $0 }
        for f in audited where f.facts.skipReason != nil { skipped.append(SkippedFile(path: f.path, reason: f.facts.skipReason!)) }
        return Loaded(subject: AuditSubject(repository: path, commit: nil, revision: nil, isGitRepository: false),
                      files: audited, skipped: skipped.sorted { $0.path < $1.path }, commits: [], firstParent: [], headTime: 0,
                      cacheStats: (hits, fresh.count), config: config)
    }
}
