import CGit2
import Dispatch
import Foundation
import GuardianCore
import GuardianCrypto

/// What to audit and how.
public struct AuditOptions: Sendable {
    public var target: String
    public var revision: String?
    public var profile: TeamProfile = .standard
    public var checks: [Check] = Check.allCases
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    /// nil disables the cache.
    public var cacheDirectory: String?
    /// Keep decoded facts in this process's memory for the next audit (a long-running process);
    /// a one-off command reads them once and has no next audit.
    public var keepsFactsInMemory = true
    public var baseline: String?
    /// With a baseline: keep every finding and mark each new or not (`Violation.isNew`) instead of
    /// dropping the old ones; the gate still judges only the new. A pull request's audit does this.
    public var markNew = false
    public var maxHistory: Int = 1000
    public var pastScores: [PastScore] = []
    public var events: [RepositoryEvent] = []
    /// Findings dismissed outside the code, by fingerprint (the agent's dismissals): reported with
    /// this suppression, counted toward nothing.
    public var dismissals: [String: Suppression] = [:]
    /// Rules the team weighed down by its dismissals (the agent's team learning).
    public var learning: [LearnedWeight] = []
    public var limits = AnalysisLimits()
    /// Zero every timing field (for byte-identical reports).
    public var reproducible = false
    /// Called with a phase name and a fraction (0–1) while the audit runs; from any thread.
    public var progress: (@Sendable (String, Double) -> Void)?
    /// A sharded audit: analyses the files that miss the cache elsewhere (the mesh's shard owners).
    /// Given the commit and those files, it returns each file's encoded facts, or nil for a file
    /// to analyse here. Used only when at least `shardMinFiles` files miss the cache.
    public var shardAnalysis: (@Sendable (_ commit: String, _ files: [ShardFile]) -> [[UInt8]?])?
    public var shardMinFiles = 1000

    public init(target: String) { self.target = target }

    public static var defaultCacheDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/guardian" }
        return (env["HOME"] ?? NSTemporaryDirectory()) + "/.cache/guardian"
    }
}

/// Runs audits: reads the repository, analyses blobs in parallel (reusing the cache),
/// reads history, runs the checks and scores them.
public enum Auditor {
    public static let version = "0.1.0"

    /// Starts libgit2 on another thread: its set-up parses the system's CA bundle (some milliseconds),
    /// which a one-off command can overlap with parsing its arguments and opening its cache.
    public static func prepareGit() {
        Thread.detachNewThread { _ = GitRepository.initialized }
    }

    public static func run(_ given: AuditOptions) throws -> AuditReport {
        var options = given
        // two loads of one repository (HEAD and the baseline) share their facts in memory; a
        // snapshot would be read and decoded twice and written for each
        if options.baseline != nil { options.keepsFactsInMemory = true }
        let started = Date()
        Trace.mark("start")
        let clock = ContinuousClock()
        let t0 = clock.now
        // the cache opens (on a first run: creates its file and tables) while the repository is read
        let cacheDirectory = options.cacheDirectory
        let cache = Opening<AnalysisCache?> { cacheDirectory.flatMap { try? AnalysisCache(directory: $0) } }
        if Trace.enabled {
            _ = GitRepository.initialized // how long the command waits for libgit2's set-up (`prepareGit`)
            Trace.mark("libgit2 ready")
        }
        let source = try RepositorySource.open(options.target, cacheDirectory: options.cacheDirectory ?? AuditOptions.defaultCacheDirectory)
        let loaded = try load(source: source, revision: options.revision, options: options, cache: cache)
        defer { loaded.writes?.wait() }

        var baselineFingerprints: Set<String>?
        if let base = options.baseline {
            guard source.isGit else { throw GuardianError.usage("--baseline needs a git repository; \(options.target) is a plain directory") }
            var bopts = options
            bopts.baseline = nil
            let baseLoaded = try load(source: source, revision: base, options: bopts, cache: cache)
            defer { baseLoaded.writes?.wait() }
            let baseReport = evaluate(baseLoaded, options: bopts, baselineFingerprints: nil, baseline: nil, started: started)
            baselineFingerprints = Set(baseReport.allViolations.map(\.fingerprint))
        }
        var report = evaluate(loaded, options: options, baselineFingerprints: baselineFingerprints, baseline: options.baseline,
                              started: started)
        report.timing.totalMs = t0.duration(to: clock.now).milliseconds.rounded()
        if options.reproducible { report = report.withoutTiming() }
        return report
    }

    struct Loaded {
        var subject: AuditSubject
        var files: [AuditedFile]
        var skipped: [SkippedFile]
        var commits: [CommitFacts]
        var firstParent: Set<String>
        var headTime: Int64
        var cacheStats: (hits: Int, misses: Int)
        /// `.guardian.yml` and `.gitattributes` of the audited commit (or directory).
        var config = RepositoryConfig()
        /// The code host owner of the repository (from its URL or its `origin`), when known.
        var owner: String?
        /// The analysed facts being written to the cache and the snapshot while the checks run;
        /// `run` waits for them before it returns.
        var writes: DispatchGroup?
    }

    /// The repository's configuration from its root files (`read` gives a root file's text).
    static func repositoryConfig(_ read: (String) -> String?) throws -> RepositoryConfig {
        var config = try read(RepositoryConfig.fileName).map { try RepositoryConfig.parse($0) } ?? RepositoryConfig()
        if let attributes = read(".gitattributes") { config.addGitAttributes(attributes) }
        return config
    }

    /// Why a path is not audited under the configuration: excluded, or vendored (with its source).
    static func configured(_ path: String, _ config: RepositoryConfig) -> String? {
        guard !config.exclude.isEmpty || !config.vendored.isEmpty else { return nil }
        let split = Glob.Path(path)
        if config.isExcluded(split) { return "excluded (\(RepositoryConfig.fileName))" }
        if let g = config.vendoredPattern(split) { return "vendored (\(config.vendoredSource[g.pattern] ?? RepositoryConfig.fileName): \(g.pattern))" }
        return nil
    }

    static func cacheKey(_ parts: [UInt8]) -> [UInt8] { Sodium.blake2b(parts, length: 20) }

    /// What every blob key of an audit starts with: the analyzer's version and the analysis limits.
    static func blobKeyPrefix(_ options: AuditOptions) -> [UInt8] { Array("\(FileAnalyzer.version)|\(options.limits.cacheTag)|".utf8) }

    /// A blob's cache key: the prefix, the path (facts depend on it: language, test or not, sample,
    /// vendored) and the blob id, or for a file outside git the BLAKE2b of its content. Git paths
    /// hold no NUL, so the NUL after the path keeps the parts apart.
    static func blobKey(prefix: [UInt8], oid: git_oid?, content: UnsafeBufferPointer<UInt8>?, path: String) -> [UInt8] {
        var b = prefix
        b.reserveCapacity(prefix.count + path.utf8.count + 1 + 32)
        b.append(contentsOf: path.utf8)
        b.append(0)
        if var o = oid {
            withUnsafeBytes(of: &o.id) { b.append(contentsOf: $0) }
        } else if let c = content {
            b.append(contentsOf: Sodium.blake2b(Array(c), length: 32))
        }
        return cacheKey(b)
    }

    // MARK: loading

    static func load(source: RepositorySource, revision: String?, options: AuditOptions, cache: Opening<AnalysisCache?>) throws -> Loaded {
        switch source {
        case .git(let path, let display):
            return try loadGit(path: path, display: display, revision: revision ?? "HEAD", options: options, opening: cache)
        case .directory(let path):
            if revision != nil { throw GuardianError.usage("--rev needs a git repository; \(path) is a plain directory") }
            return try loadDirectory(path: path, options: options, cache: cache.value)
        }
    }

    /// Fixed-size result slots written from worker threads. Each index is written by exactly one
    /// worker and read only after all workers finished, so sharing the buffer is race-free.
    final class Slots<T>: @unchecked Sendable {
        var items: [T?]
        init(count: Int) { items = Array(repeating: nil, count: count) }
    }

    /// `transform` of each index below `count`, in order, on up to `jobs` threads that take at
    /// least 64 items each (fewer items are not worth a thread).
    static func parallelMap<T>(_ count: Int, jobs: Int, _ transform: @Sendable (Int) -> T) -> [T?] {
        let slots = Slots<T>(count: count)
        let workers = max(1, min(jobs, count / 64 + 1))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var k = w
            while k < count {
                slots.items[k] = transform(k)
                k += workers
            }
        }
        return slots.items
    }

    static func loadGit(path: String, display: String, revision: String, options: AuditOptions,
                        opening: Opening<AnalysisCache?>) throws -> Loaded {
        let repo = try GitRepository(path: path)
        let head = try repo.resolve(revision)
        Trace.mark("open+resolve")
        let entries = try repo.tree(of: head)
        Trace.mark("tree \(entries.count)")
        var config = try repositoryConfig { name in
            guard let e = entries.first(where: { $0.path == name && ($0.kind == .blob || $0.kind == .executable) }) else { return nil }
            return try? repo.withBlob(e.oid) { String(decoding: $0, as: UTF8.self) }
        }
        config.addBundledLibraries(entries.map(\.path))
        options.progress?("reading tree", 0.05)
        var files: [AuditedFile?] = Array(repeating: nil, count: entries.count)
        var skipped: [SkippedFile] = []
        var keys: [[UInt8]] = Array(repeating: [], count: entries.count)
        var todo: [Int] = []
        for (i, e) in entries.enumerated() {
            switch e.kind {
            case .symlink:
                skipped.append(SkippedFile(path: e.path, reason: "symlink (never followed)"))
            case .submodule:
                skipped.append(SkippedFile(path: e.path, reason: "submodule at \(GitRepository.hex(e.oid).prefix(10)) (not audited)"))
            case .blob, .executable:
                if let why = configured(e.path, config) { skipped.append(SkippedFile(path: e.path, reason: why)) } else { todo.append(i) }
            }
        }
        // Keys hash the path with the blob id; spread over the cores.
        let prefix = blobKeyPrefix(options)
        let keySlots = Slots<[UInt8]>(count: entries.count)
        let todoList = todo
        let keyJobs = max(1, min(options.jobs, todo.count / 512 + 1))
        DispatchQueue.concurrentPerform(iterations: keyJobs) { w in
            var k = w
            while k < todoList.count {
                let e = entries[todoList[k]]
                keySlots.items[todoList[k]] = blobKey(prefix: prefix, oid: e.oid, content: nil, path: e.path)
                k += keyJobs
            }
        }
        for i in todo { keys[i] = keySlots.items[i] ?? [] }
        Trace.mark("keys")
        let cache = opening.value
        Trace.mark("cache opened")
        // Memory first (long-running processes), or the repository's snapshot (one-off commands);
        // then the database. Only when caching is on.
        let todoKeys = todo.map { keys[$0] }
        var cached: [Data: FileFacts] = [:]
        var snapshot: FactsSnapshot.Use?
        if let cache, options.keepsFactsInMemory {
            cached = MemoryFactsCache.shared.lookup(todoKeys, disk: cache)
        } else if let cache {
            let use = FactsSnapshot.Use(keys: todoKeys, cache: cache, repository: path, prefix: prefix)
            cached = use.facts
            snapshot = use
        }
        Trace.mark("cache read \(cached.count)")
        var missing: [Int] = []
        for i in todo {
            if let f = cached[Data(keys[i])] {
                files[i] = AuditedFile(path: entries[i].path, kind: entries[i].kind, facts: f)
            } else {
                missing.append(i)
            }
        }
        let slots = Slots<FileFacts>(count: missing.count)
        // A sharded audit fills in what the shard owners analysed; the rest is analysed here.
        if let shard = options.shardAnalysis, missing.count >= options.shardMinFiles {
            options.progress?("analysing files in shards", 0.1)
            let answers = shard(GitRepository.hex(head), missing.map { ShardFile(path: entries[$0].path, blob: GitRepository.raw(entries[$0].oid)) })
            for (k, a) in answers.enumerated() where k < missing.count { slots.items[k] = a.flatMap { try? FileFacts.decode($0) } }
            Trace.mark("shards \(answers.count)")
        }
        let local = missing.indices.filter { slots.items[$0] == nil }
        let analysed = try analyseBlobs(local.map { (entries[missing[$0]].path, entries[missing[$0]].oid) }, in: [path],
                                        limits: options.limits, jobs: options.jobs) { done in
            options.progress?("analysing files", 0.1 + 0.7 * done)
        }
        for (k, facts) in zip(local, analysed) { slots.items[k] = facts }
        var fresh: [(key: [UInt8], facts: FileFacts)] = []
        for (k, i) in missing.enumerated() {
            guard let f = slots.items[k] else {
                skipped.append(SkippedFile(path: entries[i].path, reason: "unreadable blob"))
                continue
            }
            files[i] = AuditedFile(path: entries[i].path, kind: entries[i].kind, facts: f)
            fresh.append((keys[i], f))
        }
        let freshEncoded = cache == nil ? [] : encoded(fresh, jobs: options.jobs)
        if let cache, options.keepsFactsInMemory { MemoryFactsCache.shared.insert(fresh, namespace: cache.path) }
        let audited = files.compactMap { $0 }
        for f in audited where f.facts.skipReason != nil { skipped.append(SkippedFile(path: f.path, reason: f.facts.skipReason!)) }

        // history
        Trace.mark("analysis+store \(missing.count)")
        options.progress?("reading history", 0.8)
        let all = try repo.walkHistory(from: head, limit: options.maxHistory, firstParent: false)
        let mainline = try repo.walkHistory(from: head, limit: options.maxHistory, firstParent: true)
        let ckeys = all.map { o -> [UInt8] in
            var b = Array("commit|\(FileAnalyzer.version)|".utf8)
            var oid = o
            withUnsafeBytes(of: &oid.id) { b.append(contentsOf: $0) }
            return cacheKey(b)
        }
        let cachedCommits = cache?.commitFacts(keys: ckeys) ?? [:]
        var commits: [CommitFacts?] = Array(repeating: nil, count: all.count)
        var missingCommits: [Int] = []
        for i in all.indices {
            if let c = cachedCommits[Data(ckeys[i])] { commits[i] = c } else { missingCommits.append(i) }
        }
        let missingCommitList = missingCommits
        let cslots = Slots<CommitFacts>(count: missingCommits.count)
        let cjobs = max(1, min(options.jobs, missingCommits.count))
        DispatchQueue.concurrentPerform(iterations: cjobs) { w in
            guard let r = try? GitRepository(path: path) else { return }
            var k = w
            while k < missingCommitList.count {
                cslots.items[k] = try? r.commitFacts(all[missingCommitList[k]])
                k += cjobs
            }
        }
        var freshCommits: [(key: [UInt8], facts: CommitFacts)] = []
        for (k, i) in missingCommits.enumerated() {
            if let c = cslots.items[k] { commits[i] = c; freshCommits.append((ckeys[i], c)) }
        }
        cache?.store(commitFacts: freshCommits)
        let history = repo.withMailmap(commits.compactMap { $0 })
        Trace.mark("history \(history.count)")
        // no reader needs them before the next audit: written while the checks run, on a thread
        // of their own (`run` waits for them, and may itself run on a pool thread the writes
        // would otherwise need)
        let writes = DispatchGroup()
        if cache != nil {
            let todoKeys = todoKeys, snapshot = snapshot
            writes.enter()
            Thread.detachNewThread {
                cache?.store(encodedBlobFacts: freshEncoded)
                snapshot?.finish(keys: todoKeys, fresh: freshEncoded)
                writes.leave()
            }
        }
        let headId = GitRepository.hex(head)
        return Loaded(subject: AuditSubject(repository: display, commit: headId, revision: revision, isGitRepository: true),
                      files: audited, skipped: skipped.sorted { $0.path < $1.path }, commits: history,
                      firstParent: Set(mainline.map(GitRepository.hex)), headTime: history.first?.time ?? 0,
                      cacheStats: (todo.count - missing.count, missing.count), config: config,
                      owner: GitRepository.owner(ofURL: display) ?? repo.originURL().flatMap(GitRepository.owner(ofURL:)),
                      writes: writes)
    }

    /// Each file's facts encoded for the cache, spread over the cores.
    static func encoded(_ fresh: [(key: [UInt8], facts: FileFacts)], jobs: Int) -> [(key: [UInt8], data: [UInt8])] {
        let data = parallelMap(fresh.count, jobs: jobs) { fresh[$0].facts.encoded() }
        return fresh.indices.map { (key: fresh[$0].key, data: data[$0]!) } // every item is mapped
    }

    /// Facts for each (path, blob), analysed on `jobs` threads, each with its own handles on
    /// `repositories`; a blob is read from the first that holds it, nil when none does or it cannot
    /// be read. Throws when a repository cannot be opened. Used by local and shard analysis alike.
    static func analyseBlobs(_ items: [(path: String, oid: git_oid)], in repositories: [String], limits: AnalysisLimits, jobs: Int,
                             progress: (@Sendable (Double) -> Void)? = nil) throws -> [FileFacts?] {
        let slots = Slots<FileFacts>(count: items.count)
        let workers = max(1, min(jobs, items.count))
        let failures = Slots<String>(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var repos: [GitRepository] = []
            for p in repositories {
                guard let r = try? GitRepository(path: p) else { failures.items[w] = "cannot open \(p)"; return }
                repos.append(r)
            }
            var k = w
            while k < items.count {
                if w == 0 && k % 256 == 0 { progress?(Double(k) / Double(items.count)) }
                let (path, oid) = items[k]
                let repo = repos.count == 1 ? repos[0] : repos.first { $0.has(oid) }
                slots.items[k] = try? repo?.withBlob(oid) { buf in
                    FileAnalyzer.analyze(path: path, buffer: buf, isTest: PathRules.isTest(path), limits: limits)
                }
                k += workers
            }
        }
        if let f = failures.items.compactMap({ $0 }).first { throw GuardianError.repository(f) }
        return slots.items
    }
}

extension Auditor {
    /// One measured function (for `guardian functions` and the lizard comparison).
    public struct FunctionRow: Sendable {
        public var file: String
        public var line: Int
        public var end: Int
        public var name: String
        public var ccn: Int
        public var params: Int
        public var nesting: Int
    }

    public static func functions(_ options: AuditOptions) throws -> [FunctionRow] {
        let source = try RepositorySource.open(options.target, cacheDirectory: options.cacheDirectory ?? AuditOptions.defaultCacheDirectory)
        var opts = options
        opts.maxHistory = 0
        let l = try load(source: source, revision: options.revision, options: opts, cache: Opening(ready: nil))
        return l.files.flatMap { f in
            f.facts.functions.map { FunctionRow(file: f.path, line: Int($0.startLine), end: Int($0.endLine), name: $0.name,
                                                ccn: Int($0.ccn), params: Int($0.params), nesting: Int($0.maxNesting)) }
        }
    }
}

extension Duration {
    /// The duration in milliseconds.
    public var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
