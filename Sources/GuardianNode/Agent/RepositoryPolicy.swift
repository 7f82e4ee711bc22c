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
    /// slash), `file://`, or a local path.
    static func locate(_ url: String) -> Location? {
        if let r = url.range(of: "://") {
            let scheme = url[..<r.lowerBound].lowercased()
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
            return host.isEmpty ? nil : .remote(scheme: scheme, host: host.lowercased())
        }
        if let colon = url.firstIndex(of: ":"), !url[..<colon].contains("/") {
            var host = url[..<colon]
            if let at = host.lastIndex(of: "@") { host = host[host.index(after: at)...] }
            return host.isEmpty ? nil : .remote(scheme: "ssh", host: host.lowercased())
        }
        return .local(url)
    }

    /// Throws `RepositoryRefused` unless this node may fetch `url`; `admin` is false for a
    /// registration by a team's token (local repositories are an admin's decision).
    public func check(_ url: String, admin: Bool) throws {
        switch Self.locate(url) {
        case nil:
            throw RepositoryRefused(message: "repositoryUrl is neither a URL with a host nor an absolute path")
        case .local(let path)?:
            guard admin, path.hasPrefix("/") else { throw RepositoryRefused(message: Self.localRefusal) }
            // Checked as written and as the file system resolves it: a symlink under a root that
            // points outside it is outside. A path that does not exist yet is judged as written.
            let forms = Self.forms(path)
            guard forms.allSatisfy({ f in roots.contains { Self.isInside(f, $0) } }),
                  !forms.contains(where: { f in dataDir.contains { Self.isInside(f, $0) } }) else {
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

    /// `host` matches `pattern`: equal, or `*.domain` and the host ends in `.domain`.
    static func matches(_ host: String, _ pattern: String) -> Bool {
        if pattern.hasPrefix("*.") { return host.hasSuffix(String(pattern.dropFirst())) }
        return host == pattern
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
