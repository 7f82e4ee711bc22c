import GuardianNode
import Foundation
import GuardianStore
import GuardianAudit
import GuardianCore
import GuardianCrypto
import HTTPTypes
import Hummingbird

/// Webhooks from GitHub (`X-Hub-Signature-256`), GitLab (`X-Gitlab-Token`), Bitbucket
/// (`X-Hub-Signature`) and Azure DevOps (basic auth). Each is verified in constant time against the
/// project's secret, deduplicated by delivery id, acknowledged at once, and queues an incremental
/// audit of the pushed commit. Forced pushes, merges and branch names are recorded for the checks.
public struct Webhooks: Sendable {
    let node: Node
    /// In a mesh: hands a verified webhook to the project's primary (nil: handle it here).
    var toPrimary: (@Sendable (Request, GuardianContext, ByteBuffer, String) async -> Response?)?

    enum Provider: String, CaseIterable, Sendable { case github, gitlab, bitbucket, azure }

    struct Parsed {
        var deliveryId: String?
        var repositoryUrls: [String]
        var commit: String?
        var ref: String?
        var forced = false
        var unreviewedMerge = false
        var actor: String?
        var isPing = false
        /// A pull (merge) request opened or pushed to: audited against its merge base.
        var pullRequest: PullRequestTask?
    }

    func register(on router: Router<GuardianContext>) {
        for provider in Provider.allCases {
            router.post("/v1/hooks/\(provider.rawValue)/:project") { request, context in
                try await handle(provider, request, context, projectId: try context.parameters.require("project"))
            }
            router.post("/v1/hooks/\(provider.rawValue)") { request, context in
                try await handle(provider, request, context, projectId: nil)
            }
        }
    }

    func handle(_ provider: Provider, _ request: Request, _ context: GuardianContext, projectId: String?) async throws -> Response {
        let raw = try await request.body.collect(upTo: node.config.maxBodyBytes)
        let body = [UInt8](Data(buffer: raw))
        let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        var parsed = Self.parse(provider, { header(request, $0) }, json ?? [:])
        // find the project: by id, else by the repository URL in the payload
        let project: ProjectRecord
        if let projectId {
            guard let p = try node.store.project(id: projectId) else { throw APIError(.notFound, "not_found", "no project '\(projectId)'") }
            project = p
        } else {
            let all = try node.store.projects()
            let wanted = Set(parsed.repositoryUrls.map(normalize))
            guard let p = all.first(where: { wanted.contains(normalize($0.repositoryUrl)) }) else {
                throw APIError(.notFound, "unknown_repository", "no project is registered for \(parsed.repositoryUrls.first ?? "this repository")")
            }
            project = p
        }
        if let claim = context.forwarded {
            // a member verified the signature and forwarded it here (the member claim covers this body)
            guard claim.caller == .webhook(project: project.id) else {
                throw APIError(.unauthorized, "unauthorized", "the forwarded request is not a webhook for \(project.id)")
            }
        } else {
            // an empty key signs anything: a project without a real secret accepts no webhook
            guard let secret = await node.webhookSecret(of: project), !secret.isEmpty else {
                throw APIError(.unauthorized, "no_webhook_secret", "project \(project.id) has no webhookSecret; set one to accept webhooks")
            }
            guard verify(provider, request, body: body, secret: secret) else {
                throw APIError(.unauthorized, "bad_signature", "the webhook signature or token does not match")
            }
        }
        guard json != nil else { throw APIError(.badRequest, "invalid_json", "the webhook body is not JSON") }
        if let toPrimary, let answer = await toPrimary(request, context, raw, project.id) { return answer }
        let delivery = parsed.deliveryId ?? Sodium.hex(Sodium.blake2b(body, length: 16))
        parsed.deliveryId = delivery
        // A delivery seen before is a duplicate, and so is a body seen before under a new delivery id
        // (the id is a header: a replay can change it, but not the signed body).
        let received = Date().timeIntervalSince1970
        let bodyKey = "\(provider.rawValue):body:\(project.id):" + Sodium.hex(Sodium.blake2b(body, length: 16))
        guard try node.store.recordDelivery(id: "\(provider.rawValue):\(delivery)", project: project.id, at: received),
              try node.store.recordDelivery(id: bodyKey, project: project.id, at: received) else {
            return API.json(["status": "duplicate", "delivery": delivery])
        }
        if parsed.isPing { return API.json(["status": "pong"]) }
        let now = Date().timeIntervalSince1970
        if let ref = parsed.ref {
            if parsed.forced {
                try node.store.record(event: RepositoryEventRecord(id: delivery + ":force", projectId: project.id, kind: RepositoryEvent.Kind.forcePush.rawValue,
                                                                   ref: ref, actor: parsed.actor, createdAt: now))
            }
            if parsed.unreviewedMerge {
                try node.store.record(event: RepositoryEventRecord(id: delivery + ":merge", projectId: project.id,
                                                                   kind: RepositoryEvent.Kind.unreviewedMerge.rawValue, ref: ref, actor: parsed.actor, createdAt: now))
            }
            try node.store.record(event: RepositoryEventRecord(id: delivery + ":branch", projectId: project.id, kind: RepositoryEvent.Kind.branchPushed.rawValue,
                                                               ref: ref, actor: parsed.actor, createdAt: now))
        }
        var taskId: String?, auditedAlready: String?
        if let pr = parsed.pullRequest {
            // a head already audited for this request is not audited again
            if let done = try node.store.pullRequestResult(project: project.id, number: pr.number, commitPrefix: pr.head) {
                auditedAlready = done
            } else {
                taskId = try await node.enqueue(project: project.id, pullRequest: pr).id
            }
        } else if let commit = parsed.commit, commit.count == 40, commit.allSatisfy(\.isHexDigit), commit != String(repeating: "0", count: 40) {
            // a commit audited already (its latest result, or an audit of it under way) is not audited again
            if let latest = try node.store.latestResultSummary(project: project.id), latest.commitId == commit {
                auditedAlready = latest.id
            } else if let running = node.currentTask(project: project.id), running.revision == commit, running.pullRequest == nil {
                taskId = running.id
            } else {
                taskId = try await node.enqueue(project: project.id, reason: .webhook, revision: commit).id
            }
        }
        await node.events.publish("webhook.received", ["project": project.id, "provider": provider.rawValue, "delivery": delivery])
        var out: [String: Any] = ["status": "accepted", "delivery": delivery, "project": project.id]
        if let taskId { out["taskId"] = taskId }
        if let auditedAlready { out["resultId"] = auditedAlready }
        return API.json(out, status: .accepted)
    }

    func normalize(_ url: String) -> String {
        var u = url.lowercased()
        if u.hasSuffix("/") { u.removeLast() }
        if u.hasSuffix(".git") { u.removeLast(4) }
        if let r = u.range(of: "://") { u = String(u[r.upperBound...]) }
        if u.hasPrefix("git@") { u = String(u.dropFirst(4)).replacingOccurrences(of: ":", with: "/") }
        if let at = u.firstIndex(of: "@") { u = String(u[u.index(after: at)...]) }
        return u
    }

    func header(_ request: Request, _ name: String) -> String? { HTTPField.Name(name).flatMap { request.headers[$0] } }

    /// Reads a webhook body as the agent does, with no project, signature or store: for fuzzing the
    /// parser with hostile payloads. Returns the commit and ref it would audit, if any.
    public static func inspect(provider: String, headers: [String: String], body: [UInt8]) -> (commit: String?, ref: String?)? {
        guard let p = Provider(rawValue: provider) else { return nil }
        let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        let parsed = parse(p, { headers[$0] }, json)
        return (parsed.commit ?? parsed.pullRequest?.head, parsed.ref ?? parsed.pullRequest?.ref)
    }

    func verify(_ provider: Provider, _ request: Request, body: [UInt8], secret: String) -> Bool {
        switch provider {
        case .github, .bitbucket:
            let name = provider == .github ? "X-Hub-Signature-256" : "X-Hub-Signature"
            guard let sig = header(request, name), sig.hasPrefix("sha256=") else { return false }
            let expected = "sha256=" + Sodium.hex(Sodium.hmacSHA256(key: Array(secret.utf8), message: body))
            return Sodium.constantTimeEqual(Array(sig.lowercased().utf8), Array(expected.utf8))
        case .gitlab:
            guard let token = header(request, "X-Gitlab-Token") else { return false }
            return Sodium.constantTimeEqual(Sodium.sha256(Array(token.utf8)), Sodium.sha256(Array(secret.utf8)))
        case .azure:
            guard let auth = request.headers[.authorization], auth.lowercased().hasPrefix("basic "),
                  let decoded = Data(base64Encoded: String(auth.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
                  let colon = decoded.firstIndex(of: ":") else { return false }
            let password = String(decoded[decoded.index(after: colon)...])
            return Sodium.constantTimeEqual(Sodium.sha256(Array(password.utf8)), Sodium.sha256(Array(secret.utf8)))
        }
    }

    /// What a provider's payload says (`header` reads the request's headers by name).
    static func parse(_ provider: Provider, _ header: (String) -> String?, _ j: [String: Any]) -> Parsed {
        func s(_ v: Any?) -> String? { v as? String }
        func d(_ v: Any?) -> [String: Any] { v as? [String: Any] ?? [:] }
        var p = Parsed(repositoryUrls: [])
        switch provider {
        case .github:
            p.deliveryId = header("X-GitHub-Delivery")
            let event = header("X-GitHub-Event") ?? ""
            let repo = d(j["repository"])
            p.repositoryUrls = [s(repo["clone_url"]), s(repo["html_url"]), s(repo["ssh_url"]), s(repo["git_url"])].compactMap { $0 }
            p.isPing = event == "ping"
            p.actor = s(d(j["sender"])["login"])
            if event == "push" {
                p.commit = s(j["after"]); p.ref = s(j["ref"]); p.forced = (j["forced"] as? Bool) ?? false
            } else if event == "pull_request", ["opened", "synchronize", "reopened"].contains(s(j["action"]) ?? "") {
                let pr = d(j["pull_request"])
                p.pullRequest = pullRequest(number: pr["number"] ?? j["number"], head: s(d(pr["head"])["sha"]), target: s(d(pr["base"])["ref"])) {
                    "refs/pull/\($0)/head"
                }
            } else if event == "pull_request", s(j["action"]) == "closed" {
                let pr = d(j["pull_request"])
                if (pr["merged"] as? Bool) == true {
                    p.ref = s(d(pr["base"])["ref"])
                    p.commit = s(pr["merge_commit_sha"])
                    // GitHub's pull_request payload carries no approvals; a PR merged by its own author with no
                    // review comments is taken as unreviewed.
                    let author = s(d(pr["user"])["login"]), merger = s(d(pr["merged_by"])["login"])
                    p.unreviewedMerge = author != nil && author == merger && ((pr["review_comments"] as? Int) ?? 0) == 0
                }
            }
        case .gitlab:
            p.deliveryId = header("X-Gitlab-Event-UUID") ?? header("X-Gitlab-Webhook-UUID")
            let repo = d(j["repository"]), project = d(j["project"])
            p.repositoryUrls = [s(repo["git_http_url"]), s(repo["git_ssh_url"]), s(repo["homepage"]), s(project["git_http_url"]), s(project["web_url"])].compactMap { $0 }
            p.actor = s(j["user_username"]) ?? s(d(j["user"])["username"])
            if s(j["object_kind"]) == "merge_request" {
                let mr = d(j["object_attributes"])
                if ["open", "update", "reopen"].contains(s(mr["action"]) ?? "") {
                    p.pullRequest = pullRequest(number: mr["iid"], head: s(d(mr["last_commit"])["id"]), target: s(mr["target_branch"])) {
                        "refs/merge-requests/\($0)/head"
                    }
                }
            } else {
                p.commit = s(j["checkout_sha"]) ?? s(j["after"])
                p.ref = s(j["ref"])
            }
        case .bitbucket:
            p.deliveryId = header("X-Request-UUID") ?? header("X-Hook-UUID")
            let repo = d(j["repository"])
            let links = d(repo["links"])
            p.repositoryUrls = [s(d(links["html"])["href"]), s(repo["full_name"]).map { "https://bitbucket.org/\($0)" }].compactMap { $0 }
            if let change = (d(j["push"])["changes"] as? [[String: Any]])?.first {
                let new = d(change["new"])
                p.commit = s(d(new["target"])["hash"])
                p.ref = s(new["name"]).map { "refs/heads/\($0)" }
                p.forced = (change["forced"] as? Bool) ?? false
            }
            p.actor = s(d(j["actor"])["nickname"])
            if ["pullrequest:created", "pullrequest:updated"].contains(header("X-Event-Key") ?? "") {
                // Bitbucket Cloud publishes no ref for a request's head: its source branch (in this repository) is fetched
                let pr = d(j["pullrequest"]), source = d(pr["source"])
                let branch = s(d(source["branch"])["name"])
                let from = s(d(source["repository"])["full_name"]), into = s(d(d(pr["destination"])["repository"])["full_name"])
                // a fork's branch is in another repository: a branch of this one with its name is another commit
                if let from, let into, from != into { break }
                p.pullRequest = pullRequest(number: pr["id"], head: s(d(source["commit"])["hash"]), target: s(d(d(pr["destination"])["branch"])["name"])) { _ in
                    branch.map { "refs/heads/\($0)" } ?? ""
                }
            }
        case .azure:
            p.deliveryId = s(j["id"])
            let resource = d(j["resource"])
            p.repositoryUrls = [s(d(resource["repository"])["remoteUrl"])].compactMap { $0 }
            if let update = (resource["refUpdates"] as? [[String: Any]])?.first {
                p.commit = s(update["newObjectId"]); p.ref = s(update["name"])
            }
            p.actor = s(d(resource["pushedBy"])["uniqueName"])
            if ["git.pullrequest.created", "git.pullrequest.updated"].contains(s(j["eventType"]) ?? ""), resource["forkSource"] == nil {
                let target = s(resource["targetRefName"]).map { $0.hasPrefix("refs/heads/") ? String($0.dropFirst(11)) : $0 }
                let source = s(resource["sourceRefName"])
                p.pullRequest = pullRequest(number: resource["pullRequestId"], head: s(d(resource["lastMergeSourceCommit"])["commitId"]), target: target) { _ in
                    source ?? ""
                }
                p.commit = nil; p.ref = nil
            }
        }
        return p
    }

    /// A request from a payload's fields, when each is well formed: a positive number, a head of
    /// 7 to 40 hex digits (Bitbucket sends 12), a branch and a ref that can be no refspec but one
    /// name (no `*`, `:`, `..`, spaces or controls: a payload must not choose what the mirror fetches).
    static func pullRequest(number: Any?, head: String?, target: String?, ref: (Int) -> String) -> PullRequestTask? {
        guard let n = (number as? NSNumber)?.intValue ?? (number as? String).flatMap({ Int($0) }), n > 0, n < 1 << 40,
              let head, (7...40).contains(head.count), head.allSatisfy(\.isHexDigit),
              let target, validRefName(target) else { return nil }
        let r = ref(n)
        guard r.hasPrefix("refs/"), validRefName(r) else { return nil }
        return PullRequestTask(number: n, head: head.lowercased(), target: target, ref: r)
    }

    static func validRefName(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 255, !s.contains(".."), !s.hasSuffix(".lock"),
              s.unicodeScalars.allSatisfy({ c in c.properties.isAlphabetic || ("0"..."9").contains(c) || "/._-+".unicodeScalars.contains(c) })
        else { return false }
        // each part a name: not empty (no leading, trailing or double '/'), not an option, not hidden
        return s.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasPrefix(".") && !$0.hasSuffix(".") }
    }
}
