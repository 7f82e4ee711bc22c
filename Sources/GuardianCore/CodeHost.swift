import Foundation

/// Where a project's pull requests live and how Guardian writes back to them (docs/pull-requests.md):
/// the host's API base URL (GitHub Enterprise, self-managed GitLab, Bitbucket Data Center and
/// Azure DevOps Server have their own), the repository as the host names it, and a token that may
/// set commit statuses and write comments. Stored sealed with the project; the token is never shown.
public struct CodeHost: Codable, Sendable, Equatable {
    public enum Provider: String, Codable, Sendable, CaseIterable { case github, gitlab, bitbucket, azure }

    public var provider: Provider
    /// The API base: `https://api.github.com`, `https://gitlab.example/api/v4`,
    /// `https://api.bitbucket.org/2.0`, `https://dev.azure.com/ORG`.
    public var apiUrl: String
    /// `OWNER/NAME` (GitHub, Bitbucket: `WORKSPACE/REPO`), the project's path (GitLab:
    /// `GROUP/SUBGROUP/NAME`) or `PROJECT/REPO` (Azure DevOps).
    public var repository: String
    public var token: String?
    /// At most this many review comments per push, on changed lines, for new findings of high
    /// severity or above (GitHub only; 0 turns them off).
    public var reviewComments: Int?

    public init(provider: Provider, apiUrl: String, repository: String, token: String? = nil, reviewComments: Int? = nil) {
        self.provider = provider; self.apiUrl = apiUrl; self.repository = repository; self.token = token; self.reviewComments = reviewComments
    }

    public static let defaultReviewComments = 10
    public var reviewCommentLimit: Int { max(0, min(reviewComments ?? Self.defaultReviewComments, 50)) }

    /// The provider and its settings for a repository URL on a public host (github.com,
    /// gitlab.com, bitbucket.org, dev.azure.com); nil for any other host, whose provider and API URL
    /// must be given.
    public static func detect(repositoryUrl url: String) -> CodeHost? {
        guard let (host, path) = hostAndPath(url) else { return nil }
        let parts = path.split(separator: "/").map(String.init)
        switch host {
        case "github.com":
            guard parts.count == 2 else { return nil }
            return CodeHost(provider: .github, apiUrl: "https://api.github.com", repository: parts.joined(separator: "/"))
        case "gitlab.com":
            guard parts.count >= 2 else { return nil }
            return CodeHost(provider: .gitlab, apiUrl: "https://gitlab.com/api/v4", repository: parts.joined(separator: "/"))
        case "bitbucket.org":
            guard parts.count == 2 else { return nil }
            return CodeHost(provider: .bitbucket, apiUrl: "https://api.bitbucket.org/2.0", repository: parts.joined(separator: "/"))
        case "dev.azure.com":
            // ORG/PROJECT/_git/REPO
            guard parts.count == 4, parts[2] == "_git" else { return nil }
            return CodeHost(provider: .azure, apiUrl: "https://dev.azure.com/\(parts[0])", repository: "\(parts[1])/\(parts[3])")
        default:
            return nil
        }
    }

    /// The provider a URL's host names, for the webhook path a registration answers with.
    public static func provider(ofRepositoryUrl url: String) -> Provider? { detect(repositoryUrl: url)?.provider }

    /// The lower-cased host and the path without `.git` of an https or scp-like git URL.
    static func hostAndPath(_ url: String) -> (String, String)? {
        var rest: Substring
        if let r = url.range(of: "://") {
            rest = url[r.upperBound...]
        } else if let at = url.firstIndex(of: "@"), let colon = url[at...].firstIndex(of: ":") {
            rest = url[url.index(after: at)..<colon] + "/" + url[url.index(after: colon)...]
        } else {
            return nil
        }
        // a login in the URL (user:token@host) is not the host
        if let at = rest.firstIndex(of: "@"), !rest[..<at].contains("/") { rest = rest[rest.index(after: at)...] }
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        var host = rest[..<slash].lowercased()
        if let colon = host.firstIndex(of: ":") { host = String(host[..<colon]) }
        var path = String(rest[rest.index(after: slash)...])
        while path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix(".git") { path.removeLast(4) }
        return (host, path)
    }

    /// Why the settings cannot be used, or nil. The API URL must be https (http only where the
    /// node allows private targets, checked by the sender), the repository must be the shape the
    /// provider names repositories by.
    public func problem() -> String? {
        if let p = FieldLimits.problem(apiUrl, "codeHost.apiUrl", max: FieldLimits.url) { return p }
        if let p = FieldLimits.problem(repository, "codeHost.repository", max: FieldLimits.name) { return p }
        if let token, let p = FieldLimits.problem(token, "codeHost.token", max: FieldLimits.secret) { return p }
        guard let u = URLComponents(string: apiUrl), let scheme = u.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = u.host, !host.isEmpty, u.query == nil, u.fragment == nil, u.user == nil, u.password == nil else {
            return "codeHost.apiUrl must be an http(s) URL with no query, fragment or login (the API base, e.g. https://api.github.com)"
        }
        let parts = repository.split(separator: "/", omittingEmptySubsequences: false)
        let segmentsOK = parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && $0.allSatisfy { $0.isLetter || $0.isNumber || "-_.~ ".contains($0) } }
        switch provider {
        case .github, .bitbucket:
            if parts.count != 2 || !segmentsOK { return "codeHost.repository must be OWNER/NAME for \(provider.rawValue)" }
        case .gitlab:
            if parts.count < 2 || !segmentsOK { return "codeHost.repository must be the project's path, GROUP/NAME, for gitlab" }
        case .azure:
            if parts.count != 2 || !segmentsOK { return "codeHost.repository must be PROJECT/REPOSITORY for azure" }
        }
        if let reviewComments, reviewComments < 0 || reviewComments > 50 { return "codeHost.reviewComments must be between 0 and 50" }
        return nil
    }
}
