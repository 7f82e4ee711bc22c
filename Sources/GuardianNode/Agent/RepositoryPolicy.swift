import GuardianStore
import Foundation

/// A repository URL this node will not fetch. Its message is the same whether a path or a port
/// exists or not: the refusal must not tell a caller anything about this host.
public struct RepositoryRefused: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Which repositories this node fetches, wherever the registration came from (the API, a peer, an
/// air-gap bundle): local repositories (paths and `file://` URLs) only under the configured roots,
/// never inside the data directory, and registered through the API by admins alone; remote ones
/// only with an allowed scheme and from an allowed host.
public struct RepositoryPolicy: Sendable {
    public static let knownSchemes: Set<String> = ["https", "ssh", "git", "http"]
    static let localRefusal = "repositoryUrl: a local repository needs an admin token and an absolute path under one of this node's"
        + " allowed_local_roots (never the data directory); see docs/security.md"

    /// Allowed roots, each as configured and as the file system resolves it (symlinks followed).
    let roots: [String]
    let dataDir: [String]
    let schemes: Set<String>
    let allowHosts: [String]
    let denyHosts: [String]

    public init(config: AgentConfig, dataDir: String) {
        roots = config.allowedLocalRoots.flatMap(Self.forms)
        self.dataDir = Self.forms(dataDir)
        schemes = Set(config.repositorySchemes.map { $0.lowercased() })
        allowHosts = config.repositoryHostsAllow.map { $0.lowercased() }
        denyHosts = config.repositoryHostsDeny.map { $0.lowercased() }
    }

    /// Where a repository URL points.
    enum Location: Equatable {
        case local(String)
        case remote(scheme: String, host: String)
    }

    /// `scheme://[user@]host[:port]/path`, git's scp-like `[user@]host:path` (ssh: a colon before any
    /// slash), `file://`, or a local path. Read the way libgit2 reads it: a scheme it would not
    /// recognise (one with capitals) or a host that is not a plain name or address is no location,
    /// since libgit2 would read the URL differently than the policy did.
    /// The URL without a login (`https://user:token@host/x` → `https://host/x`), for logs.
    static func withoutLogin(_ url: String) -> String {
        guard let r = url.range(of: "://"), let at = url[r.upperBound...].firstIndex(of: "@"),
              !url[r.upperBound..<at].contains("/") else { return url }
        return String(url[..<r.upperBound]) + url[url.index(after: at)...]
    }

    static func locate(_ url: String) -> Location? {
        if let r = url.range(of: "://") {
            let scheme = String(url[..<r.lowerBound])
            guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }) else {
                return nil
            }
            let rest = url[r.upperBound...]
            if scheme == "file" {
                // file:///path, or file://localhost/path
                let path = rest.hasPrefix("localhost/") ? String(rest.dropFirst("localhost".count)) : String(rest)
                return path.hasPrefix("/") ? .local(path.removingPercentEncoding ?? path) : nil
            }
            var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
            let host: Substring
            if authority.hasPrefix("[") {
                host = authority.dropFirst().prefix { $0 != "]" }
            } else {
                host = authority.prefix { $0 != ":" }
            }
            return plainHost(host).map { .remote(scheme: scheme, host: $0) }
        }
        if let colon = url.firstIndex(of: ":"), !url[..<colon].contains("/") {
            var host = url[..<colon]
            if let at = host.lastIndex(of: "@") { host = host[host.index(after: at)...] }
            return plainHost(host).map { .remote(scheme: "ssh", host: $0) }
        }
        return .local(url)
    }

    /// A host as the allow and deny lists compare it: lowercase, without a trailing dot; nil for
    /// anything but letters, digits, '.', '-', '_' and ':' (IPv6), percent-escapes included.
    static func plainHost(_ host: Substring) -> String? {
        var h = host.lowercased()
        if h.hasSuffix(".") { h.removeLast() }
        guard !h.isEmpty, h.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" || $0 == ":") }) else {
            return nil
        }
        return h
    }

    /// Throws `RepositoryRefused` unless this node may fetch `url`; `admin` is false for a
    /// registration by a team's token (local repositories are an admin's decision).
    public func check(_ url: String, admin: Bool) throws {
        switch Self.locate(url) {
        case nil:
            throw RepositoryRefused(message: "repositoryUrl is neither a URL with a lowercase scheme and a plain host nor an absolute path")
        case .local(let path)?:
            guard admin, path.hasPrefix("/") else { throw RepositoryRefused(message: Self.localRefusal) }
            // Checked as written and as the file system resolves it: a symlink under a root that
            // points outside it is outside. A path that does not exist yet is judged as written. So
            // is every place git would read the repository's objects from: a `.git` file's gitdir,
            // a `commondir`, `objects/info/alternates`.
            let places = Self.forms(path) + Self.indirections(path).flatMap(Self.forms)
            guard places.allSatisfy({ f in roots.contains { Self.isInside(f, $0) } }),
                  !places.contains(where: { f in dataDir.contains { Self.isInside(f, $0) } }) else {
                throw RepositoryRefused(message: Self.localRefusal)
            }
        case .remote(let scheme, let host)?:
            guard schemes.contains(scheme) else {
                throw RepositoryRefused(message: "repositoryUrl: the scheme '\(scheme.prefix(16))' is not allowed here"
                                        + " (repository_schemes: \(schemes.sorted().joined(separator: ", ")))")
            }
            if denyHosts.contains(where: { Self.matches(host, $0) }) || (!allowHosts.isEmpty && !allowHosts.contains { Self.matches(host, $0) }) {
                throw RepositoryRefused(message: "repositoryUrl: the host '\(host.prefix(64))' is not allowed here"
                                        + " (repository_hosts_allow and repository_hosts_deny)")
            }
        }
    }

    /// What a local repository at `path` would be fetched from: the path as the file system resolves
    /// it, so that a symlink changed after the check cannot point the fetch elsewhere. Remote URLs
    /// are fetched as written. Throws as `check` does.
    public func fetchable(_ url: String, admin: Bool) throws -> String {
        try check(url, admin: admin)
        guard case .local(let path)? = Self.locate(url) else { return url }
        return Self.forms(path).last ?? path
    }

    /// The other directories git reads a local repository from: the git directory a `.git` file
    /// names, a `commondir`, and the object directories `objects/info/alternates` lists (relative
    /// entries resolved as git resolves them).
    static func indirections(_ path: String) -> [String] {
        func read(_ p: String) -> String? { (try? String(contentsOfFile: p, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) }
        func resolve(_ p: String, in dir: String) -> String { p.hasPrefix("/") ? p : (dir as NSString).appendingPathComponent(p) }
        var gitDirs: [String] = []
        var isDir: ObjCBool = false
        let dotGit = (path as NSString).appendingPathComponent(".git")
        if FileManager.default.fileExists(atPath: dotGit, isDirectory: &isDir) {
            if isDir.boolValue {
                gitDirs.append(dotGit)
            } else if let line = read(dotGit), line.hasPrefix("gitdir:") {
                gitDirs.append(resolve(line.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespaces), in: path))
            }
        }
        gitDirs.append(path)
        var out = gitDirs
        for dir in gitDirs {
            var objectDirs = [(dir as NSString).appendingPathComponent("objects")]
            if let common = read((dir as NSString).appendingPathComponent("commondir")) {
                let c = resolve(common, in: dir)
                out.append(c)
                objectDirs.append((c as NSString).appendingPathComponent("objects"))
            }
            for objects in objectDirs {
                for line in (read((objects as NSString).appendingPathComponent("info/alternates")) ?? "").split(separator: "\n") {
                    let entry = line.trimmingCharacters(in: .whitespaces)
                    if !entry.isEmpty && !entry.hasPrefix("#") { out.append(resolve(entry, in: objects)) }
                }
            }
        }
        return out
    }

    /// `host` matches `pattern`: equal, or `*.domain` and the host ends in `.domain`.
    static func matches(_ host: String, _ pattern: String) -> Bool {
        let p = pattern.hasSuffix(".") ? String(pattern.dropLast()) : pattern
        if p.hasPrefix("*.") { return host.hasSuffix(String(p.dropFirst())) }
        return host == p
    }

    static func isInside(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// A path as written (standardized: `..` resolved) and as the file system resolves it, when it does.
    static func forms(_ path: String) -> [String] {
        let lexical = (path as NSString).standardizingPath
        guard let real = realpath(lexical, nil) else { return [lexical] }
        defer { free(real) }
        let resolved = String(cString: real)
        return resolved == lexical ? [lexical] : [lexical, resolved]
    }
}
