import CGit2
import Foundation
import GuardianCore

/// The remote side of a mirror: cloning, fetching `origin`, and who owns the URL it came from.
extension GitRepository {
    /// Makes a bare mirror of `url` at `destination` (https, ssh, file paths; honours
    /// `url.insteadOf`): a new repository whose origin is `url`, then `fetchOrigin`. A URL that
    /// names, or that `insteadOf` sends to, a repository on this machine first gets that
    /// repository's objects hard-linked, as git clones one (copied where a link is refused): the
    /// fetch then finds them present instead of libgit2's local transport packing them again.
    /// Whatever fails leaves no directory behind (a mirror without an origin would fail for ever).
    static func cloneBare(url: String, to destination: String, credentials: GitCredentials? = nil, extra: [String] = []) throws {
        _ = initialized
        do {
            var created: OpaquePointer?
            guard git_repository_init(&created, destination, 1) == 0 else { throw lastError("cannot create the mirror \(destination)") }
            git_repository_free(created)
            let mirror = try GitRepository(path: destination)
            var cfg: OpaquePointer?
            guard git_repository_config(&cfg, mirror.repo) == 0 else { throw lastError("cannot configure \(destination)") }
            defer { git_config_free(cfg) }
            guard git_config_set_string(cfg, "remote.origin.url", url) == 0 else { throw lastError("cannot configure \(destination)") }
            try? mirror.packWithoutDeltas()
            if let source = localSource(url) { linkObjects(from: source, to: destination) }
            try mirror.fetchOrigin(credentials: credentials, extra: extra)
        } catch {
            try? FileManager.default.removeItem(atPath: destination)
            throw error
        }
    }

    /// A mirror this process can fetch into: a repository with an origin (one without is what a
    /// crash during `cloneBare` leaves, and is made again).
    static func openMirror(_ path: String) -> GitRepository? {
        guard FileManager.default.fileExists(atPath: path), let repo = try? GitRepository(path: path), repo.originURL() != nil else { return nil }
        return repo
    }

    /// Hard-links (or copies) the object files of the repository at `source` into the bare
    /// repository at `destination`, as `git clone` of a local path does: loose objects
    /// (`xx/` + 38 hex digits) and packs (`pack/pack-HEX.pack` and `.idx`), regular files only.
    /// Nothing else: not `info/` (alternates would tie the mirror to a third place), not a push's
    /// quarantine or a temporary pack. The object folder is the one libgit2 opened (a working
    /// tree's own `objects/` folder is a tracked file like any other, never a source). Best
    /// effort: whatever is missing, the fetch brings.
    static func linkObjects(from source: String, to destination: String) {
        guard let sourceRepo = try? GitRepository(path: source), let objects = sourceRepo.objectsFolder() else { return }
        let fm = FileManager.default
        func regular(_ path: String) -> Bool {
            var st = stat()
            return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
        }
        func place(_ relative: String) {
            let from = objects + "/" + relative, to = destination + "/objects/" + relative
            guard regular(from), !fm.fileExists(atPath: to) else { return }
            try? fm.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if link(from, to) != 0 { try? fm.copyItem(atPath: from, toPath: to) }
        }
        let hex = Set("0123456789abcdef")
        for dir in (try? fm.contentsOfDirectory(atPath: objects)) ?? [] where dir.count == 2 && dir.allSatisfy(hex.contains) {
            for name in (try? fm.contentsOfDirectory(atPath: objects + "/" + dir)) ?? [] where name.count == 38 && name.allSatisfy(hex.contains) {
                place(dir + "/" + name)
            }
        }
        for name in (try? fm.contentsOfDirectory(atPath: objects + "/pack")) ?? [] where name.hasPrefix("pack-") {
            let stem = name.dropFirst(5).split(separator: ".", maxSplits: 1)
            guard stem.count == 2, ["pack", "idx"].contains(stem[1]), stem[0].allSatisfy(hex.contains) else { continue }
            place("pack/" + name)
        }
    }

    /// The repository on this machine that `url` names, directly (an absolute path, `file://`) or
    /// through `url.<base>.insteadOf` in the user's or the system's git configuration; nil for
    /// anything fetched over a network.
    static func localSource(_ url: String) -> String? {
        let target = InsteadOf.rewrite(url, insteadOfRules())
        let path: String
        if target.hasPrefix("file://") { path = String(target.dropFirst(7)) } else if target.hasPrefix("/") { path = target } else { return nil }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        return path
    }

    /// `url.<base>.insteadOf` rules of the global, XDG and system configuration, as libgit2 reads
    /// them. Every entry is read and filtered here, never matched by libgit2 against a regular
    /// expression: libgit2 1.5 leaks a PCRE2 match block for each entry that does not match
    /// (libgit2#6382), so a remote is never made with libgit2 applying `insteadOf` or looked up by name.
    static func insteadOfRules() -> [InsteadOf] {
        _ = initialized
        var cfg: OpaquePointer?
        guard git_config_open_default(&cfg) == 0 else { return [] }
        defer { git_config_free(cfg) }
        var iterator: OpaquePointer?
        guard git_config_iterator_new(&iterator, cfg) == 0 else { return [] }
        defer { git_config_iterator_free(iterator) }
        var rules: [InsteadOf] = []
        var entry: UnsafeMutablePointer<git_config_entry>?
        while git_config_next(&entry, iterator) == 0, let e = entry?.pointee {
            let name = String(cString: e.name)
            guard name.hasPrefix("url."), name.hasSuffix(".insteadof"), name.count > 14 else { continue }
            rules.append(InsteadOf(base: String(name.dropFirst(4).dropLast(10)), prefix: String(cString: e.value)))
        }
        return rules
    }

    /// A remote for `url` as given (`insteadOf` already applied by the caller), named nothing and
    /// written nowhere; detached when `repo` is nil.
    /// `named`: the URL as registered, for messages (an `insteadOf` base may carry a token).
    static func anonymousRemote(_ url: String, named: String, in repo: OpaquePointer?, credentials: GitCredentials?) throws -> OpaquePointer {
        var opts = git_remote_create_options()
        guardian_git_remote_create_options_init(&opts)
        opts.repository = repo
        opts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF.rawValue | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC.rawValue
        var remote: OpaquePointer?
        guard git_remote_create_with_opts(&remote, url, &opts) == 0, let remote else { throw lastError("cannot read \(named)", credentials: credentials) }
        return remote
    }

    /// The names of a remote's refs, without fetching anything (`git ls-remote`): whether the node
    /// can read the repository with these credentials, through the same `insteadOf` as a fetch.
    static func listRemote(url: String, credentials: GitCredentials? = nil) throws -> [String] {
        _ = initialized
        let remote = try anonymousRemote(InsteadOf.rewrite(url, insteadOfRules()), named: url, in: nil, credentials: credentials)
        defer { git_remote_free(remote) }
        var opts = git_remote_connect_options()
        guardian_git_remote_connect_options_init(&opts)
        opts.follow_redirects = GIT_REMOTE_REDIRECT_NONE
        let login = CredentialBox.install(credentials, into: &opts.callbacks)
        let rc = withExtendedLifetime(login) { git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &opts) }
        if rc != 0, let login, login.refused { throw CredentialsRefused(username: login.credentials.username) }
        guard rc == 0 else { throw lastError("cannot read \(url)", credentials: credentials) }
        defer { _ = git_remote_disconnect(remote) }
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        guard git_remote_ls(&heads, &count, remote) == 0 else { throw lastError("cannot list \(url)", credentials: credentials) }
        return (0..<count).compactMap { i in heads?[i].map { String(cString: $0.pointee.name) } }
    }

    /// Errors name the credentials' user (never the secret), so a rejected login is recognisable.
    static func lastError(_ what: String, credentials: GitCredentials?) -> GuardianError {
        guard let credentials else { return lastError(what) }
        return lastError("\(what) (as user \(credentials.username))")
    }

    /// The URL of the `origin` remote as configured (`remote.origin.url`, before any `insteadOf`
    /// rewriting, which names where to fetch from rather than whose repository it is).
    func originURL() -> String? {
        var cfg: OpaquePointer?
        guard git_repository_config_snapshot(&cfg, repo) == 0 else { return nil }
        defer { git_config_free(cfg) }
        var value: UnsafePointer<CChar>?
        guard git_config_get_string(&value, cfg, "remote.origin.url") == 0, let value else { return nil }
        return String(cString: value)
    }

    /// The owner (user or organisation) in a code host URL: `https://github.com/OWNER/NAME.git`,
    /// `git@gitlab.com:OWNER/NAME.git`, `ssh://git@host/OWNER/NAME`; nil for local paths.
    static func owner(ofURL url: String) -> String? {
        var rest: Substring
        if let r = url.range(of: "://") {
            rest = url[r.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            rest = rest[rest.index(after: slash)...]
            if url.hasPrefix("file://") { return nil }
        } else if let at = url.firstIndex(of: "@"), let colon = url[at...].firstIndex(of: ":") {
            rest = url[url.index(after: colon)...]
        } else {
            return nil
        }
        let parts = rest.split(separator: "/")
        guard parts.count >= 2, let owner = parts.first, !owner.isEmpty else { return nil }
        return String(owner)
    }

    /// Fetches every branch and tag of `origin` into the bare mirror, and `extra` refspecs (a pull
    /// request's head: `+refs/pull/7/head:refs/guardian/pull/7`); branches and tags gone from origin
    /// go here too, and HEAD follows origin's default branch. The remote is made from
    /// `remote.origin.url` with `insteadOf` applied here (`insteadOfRules`), not looked up by name.
    func fetchOrigin(credentials: GitCredentials? = nil, extra: [String] = []) throws {
        guard let origin = originURL() else { throw GitRepository.lastError("no origin remote") }
        let remote = try GitRepository.anonymousRemote(InsteadOf.rewrite(origin, GitRepository.insteadOfRules()), named: origin, in: repo, credentials: credentials)
        defer { git_remote_free(remote) }
        var opts = git_fetch_options()
        guardian_git_fetch_options_init(&opts)
        opts.prune = GIT_FETCH_PRUNE
        opts.follow_redirects = GIT_REMOTE_REDIRECT_NONE
        // A mirror: branches and tags land under the same names.
        let specs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"] + extra
        var cstrings = specs.map { strdup($0) }
        defer { cstrings.forEach { free($0) } }
        let login = CredentialBox.install(credentials, into: &opts.callbacks)
        let rc = cstrings.withUnsafeMutableBufferPointer { buf -> Int32 in
            var arr = git_strarray(strings: buf.baseAddress, count: buf.count)
            return withExtendedLifetime(login) { git_remote_fetch(remote, &arr, &opts, nil) }
        }
        if rc != 0, let login, login.refused { throw CredentialsRefused(username: login.credentials.username) }
        guard rc == 0 else { throw GitRepository.lastError("cannot fetch origin", credentials: credentials) }
        // the refs origin advertised stay readable after the fetch disconnects
        var buf = git_buf()
        guard git_remote_default_branch(&buf, remote) == 0, let p = buf.ptr else { return }
        let head = String(cString: p)
        git_buf_dispose(&buf)
        if head.hasPrefix("refs/heads/"), head != symbolicHead() { _ = git_repository_set_head(repo, head) }
    }

    /// The branch HEAD names (`refs/heads/main`), or nil when HEAD is detached or unreadable.
    func symbolicHead() -> String? {
        var ref: OpaquePointer?
        guard git_reference_lookup(&ref, repo, "HEAD") == 0 else { return nil }
        defer { git_reference_free(ref) }
        return git_reference_symbolic_target(ref).map { String(cString: $0) }
    }
}
