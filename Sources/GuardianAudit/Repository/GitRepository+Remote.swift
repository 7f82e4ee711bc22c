import CGit2
import Foundation
import GuardianCore

/// The remote side of a mirror: cloning, fetching `origin`, and who owns the URL it came from.
extension GitRepository {
    /// Clones `url` as a bare mirror into `destination` (https, ssh, file paths; honours url.insteadOf).
    static func cloneBare(url: String, to destination: String, credentials: GitCredentials? = nil) throws {
        _ = initialized
        var opts = git_clone_options()
        guardian_git_clone_options_init(&opts)
        opts.bare = 1
        // a redirect could take the fetch to a host the node's policy refuses: register the final URL
        opts.fetch_opts.follow_redirects = GIT_REMOTE_REDIRECT_NONE
        var r: OpaquePointer?
        let login = CredentialBox.install(credentials, into: &opts.fetch_opts.callbacks)
        let rc = withExtendedLifetime(login) { git_clone(&r, url, destination, &opts) }
        if rc != 0, let login, login.refused { throw CredentialsRefused(username: login.credentials.username) }
        guard rc == 0 else { throw lastError("cannot clone \(url)", credentials: credentials) }
        git_repository_free(r)
    }

    /// The names of a remote's refs, without fetching anything (`git ls-remote`): whether the node
    /// can read the repository with these credentials. The remote is made in a scratch repository
    /// so that the user's and the system's `url.insteadOf` apply as they do to a clone.
    static func listRemote(url: String, credentials: GitCredentials? = nil) throws -> [String] {
        _ = initialized
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-ls-remote-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var repo: OpaquePointer?
        guard git_repository_init(&repo, scratch, 1) == 0 else { throw lastError("cannot make a scratch repository") }
        defer { git_repository_free(repo) }
        var remote: OpaquePointer?
        guard git_remote_create_anonymous(&remote, repo, url) == 0 else { throw lastError("cannot read \(url)", credentials: credentials) }
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

    /// Fetches every branch and tag of `origin` into an existing bare mirror, and `extra` refspecs
    /// (a pull request's head: `+refs/pull/7/head:refs/guardian/pull/7`).
    func fetchOrigin(credentials: GitCredentials? = nil, extra: [String] = []) throws {
        var remote: OpaquePointer?
        guard git_remote_lookup(&remote, repo, "origin") == 0 else { throw GitRepository.lastError("no origin remote") }
        defer { git_remote_free(remote) }
        var opts = git_fetch_options()
        guardian_git_fetch_options_init(&opts)
        opts.prune = GIT_FETCH_PRUNE
        opts.follow_redirects = GIT_REMOTE_REDIRECT_NONE
        // A mirror: branches and tags land under the same names, so HEAD follows the origin.
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
    }
}
