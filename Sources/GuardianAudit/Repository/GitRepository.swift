import CGit2
import Foundation
import GuardianCore

/// One entry of a commit's tree.
struct TreeEntry: Sendable {
    enum Kind: Sendable { case blob, executable, symlink, submodule }
    var path: String
    var oid: git_oid
    var kind: Kind
}

/// One commit of history, with what it changed (against its first parent).
struct CommitFacts: Sendable, Equatable {
    var id: String
    var parents: [String]
    var authorName: String
    var authorEmail: String
    var time: Int64
    var summary: String
    var message: String
    var files: [String]
    var insertions: Int32
    var deletions: Int32
    var statsComputed: Bool
}

/// A libgit2 repository handle. Not shared between threads: each worker opens its own
/// (libgit2 objects are not safe for concurrent use on one handle).
final class GitRepository {
    private(set) var repo: OpaquePointer?
    let path: String

    /// libgit2 set up once per process. Its memory bounds are lowered from the 64-bit defaults (8 GiB
    /// of mapped pack windows, 256 MiB of object cache, both over all repositories): an agent reads packs once
    /// per audit and caches what it computed itself, so windows and objects held after an audit are
    /// resident memory that buys nothing.
    /// The bytes in libgit2's object cache (over all repositories) and its limit.
    static var cachedMemory: (bytes: Int, limit: Int) {
        _ = initialized
        var current = 0, allowed = 0
        _ = guardian_git_cached_memory(&current, &allowed)
        return (current, allowed)
    }

    static let initialized: Bool = {
        let ok = git_libgit2_init() > 0
        _ = guardian_git_limit_memory(64 << 20, 16 << 20)
        return ok
    }()

    static func lastError(_ what: String) -> GuardianError {
        let msg = git_error_last().map { String(cString: $0.pointee.message) } ?? "unknown libgit2 error"
        return .repository("\(what): \(msg)")
    }

    /// Opens exactly `path` (a working directory with .git, or a bare repository); never searches parents.
    init(path: String) throws {
        _ = GitRepository.initialized
        self.path = path
        var r: OpaquePointer?
        let rc = git_repository_open_ext(&r, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil)
        guard rc == 0, let r else { throw GitRepository.lastError("cannot open git repository at \(path)") }
        repo = r
    }

    deinit { git_repository_free(repo) }

    static func isRepository(_ path: String) -> Bool {
        _ = GitRepository.initialized
        var r: OpaquePointer?
        let rc = git_repository_open_ext(&r, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil)
        if rc == 0 { git_repository_free(r); return true }
        return false
    }

    var isEmpty: Bool { git_repository_is_empty(repo) == 1 }

    /// Resolves a revision (HEAD, branch, tag, sha, HEAD~3) to a commit id.
    func resolve(_ rev: String) throws -> git_oid {
        if isEmpty { throw GuardianError.repository("repository at \(path) is empty: it has no commits") }
        var obj: OpaquePointer?
        guard git_revparse_single(&obj, repo, rev) == 0 else {
            if git_repository_head_unborn(repo) == 1 {
                throw GuardianError.repository("repository at \(path) is empty: it has no commits")
            }
            throw GuardianError.repository("unknown revision '\(rev)' in \(path)")
        }
        defer { git_object_free(obj) }
        var commit: OpaquePointer?
        guard git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) == 0 else {
            throw GuardianError.repository("revision '\(rev)' in \(path) is not a commit")
        }
        defer { git_object_free(commit) }
        return git_object_id(commit).pointee
    }

    static func hex(_ oid: git_oid) -> String {
        var o = oid
        var out = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&out, 41, &o)
        return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Every entry of the commit's tree, depth first, sorted by path.
    func tree(of commitId: git_oid) throws -> [TreeEntry] {
        var oid = commitId
        var commit: OpaquePointer?
        guard git_commit_lookup(&commit, repo, &oid) == 0 else { throw GitRepository.lastError("cannot read commit") }
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        guard git_commit_tree(&tree, commit) == 0 else { throw GitRepository.lastError("cannot read tree") }
        defer { git_tree_free(tree) }
        var out: [TreeEntry] = []
        try walk(tree!, prefix: "", into: &out, depth: 0)
        out.sort { $0.path < $1.path }
        return out
    }

    private func walk(_ tree: OpaquePointer, prefix: String, into out: inout [TreeEntry], depth: Int) throws {
        guard depth < 64 else { return }
        let count = git_tree_entrycount(tree)
        for i in 0..<count {
            guard let e = git_tree_entry_byindex(tree, i) else { continue }
            let name = String(cString: git_tree_entry_name(e))
            // Hostile trees: names are never allowed to escape the tree.
            // (bytes, not `contains("/")`: with Foundation imported that is NSString's search)
            if name.isEmpty || name == "." || name == ".." || name.utf8.contains(47) { continue }
            let path = prefix.isEmpty ? name : prefix + "/" + name
            let mode = git_tree_entry_filemode(e)
            switch mode {
            case GIT_FILEMODE_TREE:
                var sub: OpaquePointer?
                if git_tree_lookup(&sub, repo, git_tree_entry_id(e)) == 0, let sub {
                    defer { git_tree_free(sub) }
                    try walk(sub, prefix: path, into: &out, depth: depth + 1)
                }
            case GIT_FILEMODE_BLOB:
                out.append(TreeEntry(path: path, oid: git_tree_entry_id(e).pointee, kind: .blob))
            case GIT_FILEMODE_BLOB_EXECUTABLE:
                out.append(TreeEntry(path: path, oid: git_tree_entry_id(e).pointee, kind: .executable))
            case GIT_FILEMODE_LINK:
                out.append(TreeEntry(path: path, oid: git_tree_entry_id(e).pointee, kind: .symlink))
            case GIT_FILEMODE_COMMIT:
                out.append(TreeEntry(path: path, oid: git_tree_entry_id(e).pointee, kind: .submodule))
            default:
                continue
            }
        }
    }

    /// Size of a blob without reading its content.
    func blobSize(_ oid: git_oid) -> Int {
        var o = oid
        var blob: OpaquePointer?
        guard git_blob_lookup(&blob, repo, &o) == 0 else { return 0 }
        defer { git_blob_free(blob) }
        return Int(git_blob_rawsize(blob))
    }

    /// The blob at `file` (a path in the tree) of a commit; nil when there is none.
    func blob(at file: String, commit: git_oid) -> git_oid? {
        var oid = commit
        var c: OpaquePointer?
        guard git_commit_lookup(&c, repo, &oid) == 0 else { return nil }
        defer { git_commit_free(c) }
        var tree: OpaquePointer?
        guard git_commit_tree(&tree, c) == 0 else { return nil }
        defer { git_tree_free(tree) }
        var entry: OpaquePointer?
        guard git_tree_entry_bypath(&entry, tree, file) == 0 else { return nil }
        defer { git_tree_entry_free(entry) }
        guard git_tree_entry_type(entry) == GIT_OBJECT_BLOB else { return nil }
        return git_tree_entry_id(entry).pointee
    }

    /// Reads a blob and passes its bytes to `body`.
    func withBlob<T>(_ oid: git_oid, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) throws -> T {
        var o = oid
        var blob: OpaquePointer?
        guard git_blob_lookup(&blob, repo, &o) == 0 else { throw GitRepository.lastError("cannot read blob") }
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else {
            return try body(UnsafeBufferPointer(start: nil, count: 0))
        }
        return try body(UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt8.self), count: size))
    }

    /// Whether the object database holds `oid` (loose or packed), without reading it.
    func has(_ oid: git_oid) -> Bool {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, repo) == 0 else { return false }
        defer { git_odb_free(odb) }
        var o = oid
        return git_odb_exists(odb, &o) == 1
    }

    /// A pack (the git pack format, built by libgit2) holding exactly `objects`, each deflated on
    /// its own when the mirror is configured so (`packWithoutDeltas`).
    func pack(_ objects: [git_oid]) throws -> [UInt8] {
        try? packWithoutDeltas() // a concurrent shard holding config.lock: this pack may search deltas
        var pb: OpaquePointer?
        guard git_packbuilder_new(&pb, repo) == 0 else { throw GitRepository.lastError("cannot start a pack") }
        defer { git_packbuilder_free(pb) }
        for var o in objects {
            guard git_packbuilder_insert(pb, &o, nil) == 0 else { throw GitRepository.lastError("cannot pack \(GitRepository.hex(o))") }
        }
        var buf = git_buf()
        defer { git_buf_dispose(&buf) }
        guard git_packbuilder_write_buf(&buf, pb) == 0 else { throw GitRepository.lastError("cannot write the pack") }
        guard let ptr = buf.ptr else { return [] }
        return ptr.withMemoryRebound(to: UInt8.self, capacity: buf.size) { Array(UnsafeBufferPointer(start: $0, count: buf.size)) }
    }

    /// Packs built from this repository skip the delta search. They cross a LAN to a member that
    /// analyses a shard, and the search (every blob against its ten neighbours) costs the primary
    /// more CPU than the shard saves. libgit2 has no
    /// option for it but the size above which it never deltifies; 1 byte leaves nothing to
    /// deltify (it skips objects under 50 bytes). libgit2 1.5 to 1.9 at least read that size from
    /// `pack.deltaCacheSize` (a slip in packbuilder_config), so both keys are set; 1, not 0, which
    /// means "unbounded" for the delta cache. Set when a mirror is made, and before each pack.
    func packWithoutDeltas() throws {
        try setConfigOnce("pack.bigFileThreshold", 1)
        try setConfigOnce("pack.deltaCacheSize", 1)
    }

    /// The folder libgit2 reads this repository's objects from (`.git/objects`, or a worktree's common one).
    func objectsFolder() -> String? {
        var buf = git_buf()
        defer { git_buf_dispose(&buf) }
        guard git_repository_item_path(&buf, repo, GIT_REPOSITORY_ITEM_OBJECTS) == 0, let p = buf.ptr else { return nil }
        let path = String(cString: p)
        return path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// Sets a whole-number setting in this repository's own configuration unless it already reads so.
    func setConfigOnce(_ name: String, _ value: Int64) throws {
        var snapshot: OpaquePointer?
        if git_repository_config_snapshot(&snapshot, repo) == 0 {
            defer { git_config_free(snapshot) }
            var current: Int64 = -1
            if git_config_get_int64(&current, snapshot, name) == 0, current == value { return }
        }
        var cfg: OpaquePointer?
        guard git_repository_config(&cfg, repo) == 0 else { throw GitRepository.lastError("cannot configure \(path)") }
        defer { git_config_free(cfg) }
        guard git_config_set_int64(cfg, name, value) == 0 else { throw GitRepository.lastError("cannot set \(name) in \(path)") }
    }

    /// Writes a pack into the object database. libgit2's indexer checks the pack's checksum and
    /// hashes every object, so a damaged or forged pack is refused and cannot plant an object
    /// under another object's id.
    func writePack(_ bytes: [UInt8]) throws {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, repo) == 0 else { throw GitRepository.lastError("cannot open the object database") }
        defer { git_odb_free(odb) }
        var wp: UnsafeMutablePointer<git_odb_writepack>?
        guard git_odb_write_pack(&wp, odb, nil, nil) == 0, let wp else { throw GitRepository.lastError("cannot receive a pack") }
        defer { wp.pointee.free(wp) }
        var stats = git_indexer_progress()
        let rc = bytes.withUnsafeBytes { wp.pointee.append(wp, $0.baseAddress, $0.count, &stats) }
        guard rc == 0, wp.pointee.commit(wp, &stats) == 0 else { throw GitRepository.lastError("the pack is not valid") }
    }

    /// Creates an empty bare repository at `path` (or opens the one there).
    static func openOrInitBare(_ path: String) throws -> GitRepository {
        _ = initialized
        if isRepository(path) { return try GitRepository(path: path) }
        var r: OpaquePointer?
        guard git_repository_init(&r, path, 1) == 0 else { throw lastError("cannot create a repository at \(path)") }
        git_repository_free(r)
        return try GitRepository(path: path)
    }

    static func oid(_ raw: [UInt8]) -> git_oid? {
        guard raw.count == 20 else { return nil }
        var o = git_oid()
        raw.withUnsafeBufferPointer { _ = git_oid_fromraw(&o, $0.baseAddress) }
        return o
    }

    static func raw(_ oid: git_oid) -> [UInt8] { withUnsafeBytes(of: oid.id) { Array($0) } }

    /// Commits reachable from `head`, newest first, at most `limit`. `firstParent` restricts to the mainline.
    func walkHistory(from head: git_oid, limit: Int, firstParent: Bool) throws -> [git_oid] {
        var walker: OpaquePointer?
        guard git_revwalk_new(&walker, repo) == 0 else { throw GitRepository.lastError("cannot walk history") }
        defer { git_revwalk_free(walker) }
        git_revwalk_sorting(walker, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue)
        if firstParent { git_revwalk_simplify_first_parent(walker) }
        var h = head
        guard git_revwalk_push(walker, &h) == 0 else { throw GitRepository.lastError("cannot walk history") }
        var out: [git_oid] = []
        var oid = git_oid()
        while out.count < limit && git_revwalk_next(&oid, walker) == 0 { out.append(oid) }
        return out
    }

    /// Facts of one commit: metadata, changed paths, and line stats when the change is small enough.
    func commitFacts(_ id: git_oid, maxStatFiles: Int = 300) throws -> CommitFacts {
        var oid = id
        var commit: OpaquePointer?
        guard git_commit_lookup(&commit, repo, &oid) == 0 else { throw GitRepository.lastError("cannot read commit") }
        defer { git_commit_free(commit) }
        let parentCount = git_commit_parentcount(commit)
        var parents: [String] = []
        for i in 0..<parentCount { if let p = git_commit_parent_id(commit, i) { parents.append(GitRepository.hex(p.pointee)) } }
        let author = git_commit_author(commit)
        let name = author.flatMap { $0.pointee.name.map { String(cString: $0) } } ?? ""
        let email = author.flatMap { $0.pointee.email.map { String(cString: $0) } } ?? ""
        let time = Int64(git_commit_time(commit))
        let message = git_commit_message(commit).map { String(cString: $0) } ?? ""
        let summary = git_commit_summary(commit).map { String(cString: $0) } ?? ""

        var files: [String] = []
        var ins: Int32 = 0, del: Int32 = 0
        var stats = false
        var newTree: OpaquePointer?
        git_commit_tree(&newTree, commit)
        defer { git_tree_free(newTree) }
        if parentCount == 0 {
            // Root commit: the initial import. Paths only; no line stats (it would diff every file).
            var entries: [TreeEntry] = []
            if let t = newTree { try? walk(t, prefix: "", into: &entries, depth: 0) }
            files = entries.map(\.path)
        } else {
            var parent: OpaquePointer?
            git_commit_parent(&parent, commit, 0)
            defer { git_commit_free(parent) }
            var oldTree: OpaquePointer?
            if let parent { git_commit_tree(&oldTree, parent) }
            defer { git_tree_free(oldTree) }
            var opts = git_diff_options()
            guardian_git_diff_options_init(&opts)
            var diff: OpaquePointer?
            if git_diff_tree_to_tree(&diff, repo, oldTree, newTree, &opts) == 0, let diff {
                defer { git_diff_free(diff) }
                // a moved file is one path whose changed lines are only its edits (a rename sweep is
                // mechanical, not a large change)
                if git_diff_num_deltas(diff) <= maxStatFiles {
                    var find = git_diff_find_options()
                    guardian_git_diff_find_options_init(&find)
                    find.flags = GIT_DIFF_FIND_RENAMES.rawValue
                    _ = git_diff_find_similar(diff, &find)
                }
                let n = git_diff_num_deltas(diff)
                for i in 0..<n {
                    guard let d = git_diff_get_delta(diff, i) else { continue }
                    let p = d.pointee.new_file.path ?? d.pointee.old_file.path
                    if let p { files.append(String(cString: p)) }
                }
                if n <= maxStatFiles {
                    var st: OpaquePointer?
                    if git_diff_get_stats(&st, diff) == 0, let st {
                        ins = Int32(clamping: git_diff_stats_insertions(st))
                        del = Int32(clamping: git_diff_stats_deletions(st))
                        git_diff_stats_free(st)
                        stats = true
                    }
                }
            }
        }
        return CommitFacts(id: GitRepository.hex(id), parents: parents, authorName: name, authorEmail: email,
                           time: time, summary: summary, message: message, files: files.sorted(), insertions: ins,
                           deletions: del, statsComputed: stats)
    }

    /// The commits with their authors as the repository's `.mailmap` names them (one person under
    /// two addresses is one author); unchanged without a mailmap.
    func withMailmap(_ commits: [CommitFacts]) -> [CommitFacts] {
        var mm: OpaquePointer?
        guard git_mailmap_from_repository(&mm, repo) == 0, let mm else { return commits }
        defer { git_mailmap_free(mm) }
        var memo: [String: (name: String, email: String)] = [:]
        return commits.map { c in
            var c = c
            let key = c.authorName + "\u{0}" + c.authorEmail
            if let r = memo[key] { (c.authorName, c.authorEmail) = r; return c }
            // libgit2 may answer with the very pointers it was given: read them while they live
            let resolved: (String, String)? = c.authorName.withCString { name in
                c.authorEmail.withCString { email in
                    var realName: UnsafePointer<CChar>?, realEmail: UnsafePointer<CChar>?
                    guard git_mailmap_resolve(&realName, &realEmail, mm, name, email) == 0 else { return nil }
                    return (realName.map { String(cString: $0) } ?? c.authorName, realEmail.map { String(cString: $0) } ?? c.authorEmail)
                }
            }
            if let (n, e) = resolved { c.authorName = n; c.authorEmail = e }
            memo[key] = (c.authorName, c.authorEmail)
            return c
        }
    }

}

// git_oid is a plain 20-byte value (no pointers), so copies are safe to share across threads.
extension git_oid: @retroactive @unchecked Sendable {}
