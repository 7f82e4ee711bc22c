import Foundation
import GuardianCore
import GuardianMesh
import GuardianNode
import NIOHTTP1

/// Writes a pull request's result back to its code host (docs/pull-requests.md), each step
/// idempotent so that a retry or a standby's repeat changes nothing twice: a status is set (the
/// same context on the same commit), the summary comment is found by its marker and edited, and
/// review comments are posted only for findings that have none.
struct CodeHostWriter: Sendable {
    let host: CodeHost
    let targets: AlertTargets

    var base: String { host.apiUrl.hasSuffix("/") ? String(host.apiUrl.dropLast()) : host.apiUrl }

    /// A path segment, or a whole path as one segment (GitLab's project id).
    static func segment(_ s: some StringProtocol) -> String {
        // RFC 3986 unreserved, ASCII only: anything else is percent-encoded as UTF-8
        s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? String(s)
    }
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    var repositoryPath: String { host.repository.split(separator: "/").map { Self.segment($0) }.joined(separator: "/") }

    var client: HostClient {
        let token = host.token ?? ""
        let auth: [(String, String)]
        switch host.provider {
        case .github: auth = [("Authorization", "Bearer \(token)"), ("X-GitHub-Api-Version", "2022-11-28")]
        case .gitlab: auth = [("PRIVATE-TOKEN", token)]
        case .bitbucket: auth = [("Authorization", "Bearer \(token)")]
        case .azure: auth = [("Authorization", "Basic " + Data(":\(token)".utf8).base64EncodedString())]
        }
        return HostClient(targets: targets, auth: token.isEmpty ? [] : auth)
    }

    /// Writes the report; the outcome for the outbox and the line its history shows.
    func write(_ r: PullRequestReport) async -> (AttemptOutcome, String) {
        guard host.token?.isEmpty == false else { return (.rejected, "the project's codeHost has no token") }
        do {
            let done: String
            switch host.provider {
            case .github: done = try await github(r)
            case .gitlab: done = try await gitlab(r)
            case .bitbucket: done = try await bitbucket(r)
            case .azure: done = try await azure(r)
            }
            return (.delivered, done)
        } catch let f as HostClient.Failure {
            return (f.outcome, f.answer)
        } catch {
            return (.retry(retryAfter: nil), "\(error)")
        }
    }

    /// Pages of a list (`?per_page=100&page=N`) until a short page, at most 10 pages. A page that
    /// is not a list is an error, never an empty page: a marker "missing" would repeat the comment.
    func pages(_ url: String, _ what: String) async throws -> [[String: Any]] {
        var out: [[String: Any]] = []
        for page in 1...10 {
            let sep = url.contains("?") ? "&" : "?"
            guard let list = try await client.call(.GET, "\(url)\(sep)per_page=100&page=\(page)", what).json as? [[String: Any]] else {
                throw HostClient.Failure(outcome: .retry(retryAfter: nil), answer: "\(what): the answer is not a list")
            }
            out += list
            if list.count < 100 { break }
        }
        return out
    }

    static func id(_ v: Any?) -> String? {
        if let n = v as? NSNumber { return n.stringValue }
        return v as? String
    }

    // MARK: GitHub

    func github(_ r: PullRequestReport) async throws -> String {
        let repo = "\(base)/repos/\(repositoryPath)"
        var status: [String: Any] = ["state": r.state.rawValue, "description": r.statusDescription, "context": "guardian"]
        if let link = r.link { status["target_url"] = link }
        _ = try await client.call(.POST, "\(repo)/statuses/\(Self.segment(r.head))", json: status, "setting the commit status")
        let comments = try await pages("\(repo)/issues/\(r.number)/comments", "listing the pull request's comments")
        let plan = CommentPlan.decide(existing: comments.compactMap { c in Self.id(c["id"]).map { ($0, c["body"] as? String ?? "") } }, report: r)
        switch plan {
        case .create:
            _ = try await client.call(.POST, "\(repo)/issues/\(r.number)/comments", json: ["body": r.commentBody], "writing the summary comment")
        case .edit(let id, let extra):
            _ = try await client.call(.PATCH, "\(repo)/issues/comments/\(Self.segment(id))", json: ["body": r.commentBody], "editing the summary comment")
            for d in extra { _ = try await client.call(.DELETE, "\(repo)/issues/comments/\(Self.segment(d))", "deleting a repeated summary comment") }
        case .keep:
            return "a later result's comment is on the pull request; status set"
        }
        var posted = 0
        if r.error == nil, host.reviewCommentLimit > 0, r.newFindings.contains(where: { r.addedLines[$0.file ?? ""] != nil }) {
            let existing = try await pages("\(repo)/pulls/\(r.number)/comments", "listing the review comments")
            for f in r.reviewComments(existing: existing.map { $0["body"] as? String ?? "" }, limit: host.reviewCommentLimit) {
                let body: [String: Any] = ["body": PullRequestReport.reviewBody(f), "commit_id": r.head, "path": f.file ?? "", "line": f.line ?? 0,
                                           "side": "RIGHT"]
                do {
                    _ = try await client.call(.POST, "\(repo)/pulls/\(r.number)/comments", json: body, "writing a review comment")
                    posted += 1
                } catch let failure as HostClient.Failure where failure.answer.contains("HTTP 422") {
                    continue // the line is not in the diff GitHub shows (a later push moved it): the summary has it
                }
            }
        }
        return "status \(r.state.rawValue), summary comment \(plan == .create ? "written" : "edited")" + (posted > 0 ? ", \(posted) review comment(s)" : "")
    }

    // MARK: GitLab

    func gitlab(_ r: PullRequestReport) async throws -> String {
        let project = "\(base)/projects/\(Self.segment(host.repository))"
        var status: [String: Any] = ["state": r.state == .success ? "success" : "failed", "name": "guardian", "description": r.statusDescription]
        if let link = r.link { status["target_url"] = link }
        _ = try await client.call(.POST, "\(project)/statuses/\(Self.segment(r.head))", json: status, "setting the commit status")
        let notes = "\(project)/merge_requests/\(r.number)/notes"
        let existing = try await pages("\(notes)?sort=asc", "listing the merge request's notes")
        let plan = CommentPlan.decide(existing: existing.compactMap { n in Self.id(n["id"]).map { ($0, n["body"] as? String ?? "") } }, report: r)
        switch plan {
        case .create: _ = try await client.call(.POST, notes, json: ["body": r.commentBody], "writing the summary note")
        case .edit(let id, let extra):
            _ = try await client.call(.PUT, "\(notes)/\(Self.segment(id))", json: ["body": r.commentBody], "editing the summary note")
            for d in extra { _ = try await client.call(.DELETE, "\(notes)/\(Self.segment(d))", "deleting a repeated summary note") }
        case .keep: return "a later result's note is on the merge request; status set"
        }
        return "status \(r.state.rawValue), summary note \(plan == .create ? "written" : "edited")"
    }

    // MARK: Bitbucket

    func bitbucket(_ r: PullRequestReport) async throws -> String {
        let commit = "\(base)/repositories/\(repositoryPath)/commit/\(Self.segment(r.head))"
        let link = r.link ?? "https://bitbucket.org/\(host.repository)"
        _ = try await client.call(.POST, "\(commit)/statuses/build", json: [
            "key": "guardian", "name": "Guardian", "state": r.state == .success ? "SUCCESSFUL" : "FAILED", "url": link,
            "description": r.statusDescription,
        ], "setting the build status")
        var report: [String: Any] = [
            "title": "Guardian", "reporter": "Guardian", "report_type": "BUG", "result": r.state == .success ? "PASSED" : "FAILED",
            "details": r.statusDescription,
            "data": [["title": "Health", "type": "NUMBER", "value": r.health], ["title": "New findings", "type": "NUMBER", "value": r.newCount]],
        ]
        if let l = r.link { report["link"] = l }
        _ = try await client.call(.PUT, "\(commit)/reports/guardian", json: report, "writing the Code Insights report")
        let annotations: [[String: Any]] = r.newFindings.prefix(100).map { f in
            var a: [String: Any] = [
                "external_id": "guardian-\(f.fingerprint)", "summary": String("\(f.ruleId): \(f.message)".prefix(450)),
                "annotation_type": Self.vulnerabilities.contains(f.ruleId) ? "VULNERABILITY" : "CODE_SMELL",
                "severity": Self.bitbucketSeverity(f.severity),
            ]
            if let file = f.file { a["path"] = file }
            if let line = f.line { a["line"] = line }
            return a
        }
        if !annotations.isEmpty {
            _ = try await client.call(.POST, "\(commit)/reports/guardian/annotations", json: annotations, "writing the annotations")
        }
        return "build status \(r.state.rawValue), Code Insights report with \(annotations.count) annotation(s)"
    }

    static let vulnerabilities: Set<String> = ["strict/dangerous-call", "strict/hardcoded-secret", "servant/curl-pipe-shell",
                                                "servant/broad-permissions", "servant/unpinned-action"]

    static func bitbucketSeverity(_ s: String) -> String {
        switch Severity(rawValue: s) ?? .info {
        case .critical: "CRITICAL"
        case .high: "HIGH"
        case .medium: "MEDIUM"
        default: "LOW"
        }
    }

    // MARK: Azure DevOps

    func azure(_ r: PullRequestReport) async throws -> String {
        let parts = host.repository.split(separator: "/")
        let pr = "\(base)/\(Self.segment(parts.first ?? ""))/_apis/git/repositories/\(Self.segment(parts.last ?? ""))/pullRequests/\(r.number)"
        let v = "api-version=7.1"
        let state = switch r.state { case .success: "succeeded"; case .failure: "failed"; case .error: "error" }
        guard let threads = (try await client.call(.GET, "\(pr)/threads?\(v)", "listing the pull request's threads").json as? [String: Any])?["value"]
                as? [[String: Any]] else {
            throw HostClient.Failure(outcome: .retry(retryAfter: nil), answer: "listing the pull request's threads: the answer has no list")
        }
        let existing: [(id: String, body: String)] = threads.compactMap { t in
            guard let tid = Self.id(t["id"]), let first = (t["comments"] as? [[String: Any]])?.first, let cid = Self.id(first["id"]) else { return nil }
            return ("\(tid)/\(cid)", first["content"] as? String ?? "")
        }
        let plan = CommentPlan.decide(existing: existing, report: r)
        func comment(_ id: String) -> String {
            let p = id.split(separator: "/")
            return "\(pr)/threads/\(Self.segment(p.first ?? ""))/comments/\(Self.segment(p.last ?? ""))?\(v)"
        }
        // the status is the request's, not a commit's: an older result (a late retry) leaves it alone
        if plan == .keep { return "a later result's thread is on the pull request; nothing changed" }
        var status: [String: Any] = ["state": state, "description": r.statusDescription, "context": ["name": "guardian", "genre": "code-quality"]]
        if let link = r.link { status["targetUrl"] = link }
        _ = try await client.call(.POST, "\(pr)/statuses?\(v)", json: status, "setting the pull request status")
        switch plan {
        case .create:
            _ = try await client.call(.POST, "\(pr)/threads?\(v)", json: [
                "comments": [["parentCommentId": 0, "content": r.commentBody, "commentType": 1]], "status": 1,
            ], "writing the summary thread")
        case .edit(let id, let extra):
            _ = try await client.call(.PATCH, comment(id), json: ["content": r.commentBody], "editing the summary thread")
            for d in extra { _ = try await client.call(.DELETE, comment(d), "deleting a repeated summary thread") }
        case .keep: break
        }
        return "status \(state), summary thread \(plan == .create ? "written" : "edited")"
    }
}
