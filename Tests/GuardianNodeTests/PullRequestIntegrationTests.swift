import Foundation
import GuardianCrypto
import GuardianTestKit
import Testing

/// Pull requests on a real agent (docs/pull-requests.md): a signed webhook for an opened or pushed
/// request audits its head against the merge base, and the result goes back to a code host API on
/// loopback with the provider's documented requests: a status, one summary comment edited in
/// place, review comments on changed lines.
@Suite(.serialized) struct PullRequestIntegrationTests {
    static let env = ["GUARDIAN_ALERT_ALLOW_PRIVATE_TARGETS": "on", "GUARDIAN_PUBLIC_URL": "https://guardian.example.test"]
    static let secret = "hook-secret"

    /// An agent with one project whose code host is `host`, audited once on `main`.
    static func agent(_ host: FakeCodeHost, provider: String, apiPath: String, repository: String) async throws -> (AgentProcess, FixtureRepo, String) {
        let repo = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start(env: env)
        let made = try await agent.json("POST", "/v1/projects", [
            "repositoryUrl": repo.path, "name": "prs", "team": "t", "webhookSecret": secret,
            "codeHost": ["provider": provider, "apiUrl": host.base + apiPath, "repository": repository, "token": host.token],
        ])
        let id = try #require(made.json["id"] as? String, "\(made.text)")
        let view = try #require(made.json["codeHost"] as? [String: Any])
        #expect(view["token"] == nil && view["hasToken"] as? Bool == true && view["provider"] as? String == provider, "\(view)")
        #expect(made.json["webhookUrl"] as? String == "/v1/hooks/\(provider)/\(id)")
        #expect(!made.text.contains(host.token), "the token is never in an answer")
        _ = try await agent.waitForResult(project: id)
        return (agent, repo, id)
    }

    /// A commit adding a shell call on a request's input in `app/NAME.py`: a new high finding on
    /// line 6. The commit's id.
    static func highFinding(_ repo: FixtureRepo, _ name: String) throws -> String {
        try repo.write("app/\(name).py", "import os\n\n\ndef \(name)(request):\n    \"\"\"Run.\"\"\"\n    os.system(request.path)\n")
        return try repo.commit("feat: \(name)")
    }

    /// The same, published as the request's head ref.
    static func push(_ repo: FixtureRepo, _ name: String, ref: String) throws -> String {
        let sha = try highFinding(repo, name)
        _ = try repo.git("update-ref", ref, sha)
        return sha
    }

    static func hook(_ agent: AgentProcess, _ provider: String, _ id: String, headers: [String: String], _ body: [String: Any]) async throws -> AgentProcess.Reply {
        let data = try JSONSerialization.data(withJSONObject: body)
        var h = headers
        switch provider {
        case "github", "bitbucket":
            h[provider == "github" ? "X-Hub-Signature-256" : "X-Hub-Signature"] = "sha256=" + Sodium.hex(Sodium.hmacSHA256(key: Array(secret.utf8), message: [UInt8](data)))
        case "gitlab": h["X-Gitlab-Token"] = secret
        default: h["Authorization"] = "Basic " + Data("any:\(secret)".utf8).base64EncodedString()
        }
        return try await agent.request("POST", "/v1/hooks/\(provider)/\(id)", body: data, headers: h)
    }

    static func githubPush(_ agent: AgentProcess, _ id: String, action: String, number: Int, head: String, delivery: String) async throws {
        let r = try await hook(agent, "github", id, headers: ["X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery], [
            "action": action, "number": number,
            "pull_request": ["number": number, "head": ["sha": head], "base": ["ref": "main"]],
            "repository": ["clone_url": "https://github.com/o/r.git"],
        ])
        #expect(r.status == 202, "\(r.text)")
    }

    @Test func githubPullRequestsGetOneStatusPerPushOneEditedCommentAndReviewComments() async throws {
        let host = try await FakeCodeHost.start(token: "ghp-test-token")
        defer { host.stop() }
        let (agent, repo, id) = try await Self.agent(host, provider: "github", apiPath: "", repository: "o/r")
        defer { agent.stop() }
        let mainResults = try #require(try await agent.request("GET", "/v1/projects/\(id)/results").json["items"] as? [Any])

        _ = try repo.git("checkout", "-q", "-b", "feature")
        var heads: [String] = []
        for i in 0..<4 {
            let sha = try Self.push(repo, "pr\(i)", ref: "refs/pull/7/head")
            heads.append(sha)
            try await Self.githubPush(agent, id, action: i == 0 ? "opened" : "synchronize", number: 7, head: sha, delivery: "d-\(i)")
            try await eventually("the status of push \(i)", timeout: 60) { !host.statuses(sha).isEmpty }
        }
        // one status per head, context guardian, failed (a new high finding fails the gate), linking the project
        for (i, sha) in heads.enumerated() {
            let s = host.statuses(sha)
            #expect(s.count == 1, "push \(i): \(s)")
            #expect(s.first?["context"] as? String == "guardian" && s.first?["state"] as? String == "failure", "\(s)")
            // every push adds one finding: push i has i + 1 against the merge base
            #expect((s.first?["description"] as? String)?.hasSuffix("\(i + 1) new finding\(i == 0 ? "" : "s") · gate failed") == true, "\(s)")
            #expect((s.first?["target_url"] as? String)?.hasPrefix("https://guardian.example.test/ui/projects/\(id)") == true)
        }
        // exactly one summary comment, edited to the last push, listing the request's new findings
        try await eventually("the comment names the last push", timeout: 30) {
            host.comments("gh/7").first?.body.contains(String(heads[3].prefix(10))) == true
        }
        let comments = host.comments("gh/7")
        #expect(comments.count == 1, "\(comments.map(\.body))")
        let body = try #require(comments.first?.body)
        #expect(body.contains("<!-- guardian:pull-request project=\(id) -->") && body.contains("strict/dangerous-call"), "\(body)")
        #expect((0..<4).allSatisfy { body.contains("app/pr\($0).py:6") } && body.contains("4 new findings"), "\(body)")
        #expect(!body.contains("app/main.py"), "the finding already on main is not new: \(body)")
        // a review comment per new high finding, on the line the push added, never repeated (the last
        // push's come after its comment is edited)
        try await eventually("a review comment for each push", timeout: 30) { host.reviews("gh/7").count >= 4 }
        let reviews = host.reviews("gh/7")
        #expect(Set(reviews.map(\.path)) == ["app/pr0.py", "app/pr1.py", "app/pr2.py", "app/pr3.py"], "\(reviews.map(\.path))")
        #expect(reviews.count == 4 && reviews.allSatisfy { $0.line == 6 }, "\(reviews.map { "\($0.path):\($0.line)" })")
        #expect(reviews.first { $0.path == "app/pr3.py" }?.commit == heads[3])
        #expect(host.calls.allSatisfy { $0.headers["authorization"] == "Bearer ghp-test-token" })

        // the branch's timeline holds no request result
        let after = try #require(try await agent.request("GET", "/v1/projects/\(id)/results").json["items"] as? [Any])
        #expect(after.count == mainResults.count && !mainResults.isEmpty, "request results stay out of the project's results")
        let status = try await agent.request("GET", "/v1/projects/\(id)/audit-status")
        #expect(!heads.contains(status.json["commit"] as? String ?? ""), "\(status.text)")

        // a redelivered webhook for an audited head audits nothing
        let again = try await Self.hook(agent, "github", id, headers: ["X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-again"], [
            "action": "synchronize", "number": 7, "pull_request": ["number": 7, "head": ["sha": heads[3]], "base": ["ref": "main"]],
            "repository": ["clone_url": "https://github.com/o/r.git"], "extra": 1,
        ])
        #expect(again.status == 202 && again.json["taskId"] == nil && again.json["resultId"] != nil, "\(again.text)")
    }

    @Test func registrationMakesTheSecretAndTheWebhookOnTheHost() async throws {
        let host = try await FakeCodeHost.start(token: "tok")
        defer { host.stop() }
        let repo = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start(env: Self.env)
        defer { agent.stop() }
        let made = try await agent.json("POST", "/v1/projects", [
            "repositoryUrl": repo.path, "name": "hooked", "team": "t", "createWebhook": true, "webhookSecret": "",
            "codeHost": ["provider": "github", "apiUrl": host.base, "repository": "o/r", "token": "tok"],
        ])
        #expect(made.status == 201, "\(made.text)")
        let id = try #require(made.json["id"] as? String)
        // an empty secret would let anyone sign: the node makes one instead, shown once
        let secret = try #require(made.json["webhookSecret"] as? String, "a secret the node made is shown once: \(made.text)")
        #expect(secret.count == 64 && made.json["hasWebhookSecret"] as? Bool == true)
        let setup = try #require(made.json["webhook"] as? [String: Any])
        #expect(setup["created"] as? Bool == true && setup["url"] as? String == "https://guardian.example.test/v1/hooks/github/\(id)", "\(setup)")
        let hook = try #require(host.hooks().first)
        let config = try #require(hook["config"] as? [String: Any])
        #expect(config["url"] as? String == "https://guardian.example.test/v1/hooks/github/\(id)" && config["secret"] as? String == secret
                && config["content_type"] as? String == "json", "\(hook)")
        #expect(Set(hook["events"] as? [String] ?? []) == ["push", "pull_request"])
        // the secret is never shown again, and it is the one the webhooks are checked with
        let shown = try await agent.request("GET", "/v1/projects/\(id)")
        #expect(shown.json["webhookSecret"] == nil && !shown.text.contains(secret))
        _ = try await agent.waitForResult(project: id)
        _ = try repo.git("checkout", "-q", "-b", "feature")
        let sha = try Self.push(repo, "hooked", ref: "refs/pull/2/head")
        let body = try JSONSerialization.data(withJSONObject: ["action": "opened", "number": 2, "repository": ["clone_url": "x"],
                                                               "pull_request": ["number": 2, "head": ["sha": sha], "base": ["ref": "main"]]])
        let signed = try await agent.request("POST", "/v1/hooks/github/\(id)", body: body, headers: [
            "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "h-1",
            "X-Hub-Signature-256": "sha256=" + Sodium.hex(Sodium.hmacSHA256(key: Array(secret.utf8), message: [UInt8](body)))])
        #expect(signed.status == 202, "\(signed.text)")
        // without public_url the hook cannot be made, and the answer says why; the project is registered
        let other = try AgentProcess(binary: GuardianBinary.path)
        try await other.start(env: ["GUARDIAN_ALERT_ALLOW_PRIVATE_TARGETS": "on"])
        defer { other.stop() }
        let bare = try await other.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "nohook", "createWebhook": true,
                                                                  "codeHost": ["provider": "github", "apiUrl": host.base, "repository": "o/r", "token": "tok"]])
        #expect(bare.status == 201 && (bare.json["webhook"] as? [String: Any])?["created"] as? Bool == false, "\(bare.text)")
        #expect(((bare.json["webhook"] as? [String: Any])?["answer"] as? String)?.contains("public_url") == true)
    }

    @Test func aRevokedTokenGoesDeadAtOnceAndSaysSo() async throws {
        let host = try await FakeCodeHost.start(token: "tok")
        defer { host.stop() }
        let (agent, repo, id) = try await Self.agent(host, provider: "github", apiPath: "", repository: "o/r")
        defer { agent.stop() }
        host.failAll(with: 403)
        _ = try repo.git("checkout", "-q", "-b", "feature")
        let sha = try Self.push(repo, "denied", ref: "refs/pull/9/head")
        try await Self.githubPush(agent, id, action: "opened", number: 9, head: sha, delivery: "x-1")
        var dead: [String: Any]?
        try await eventually("the write-back is dead", timeout: 60) {
            let list = try await AlertDeliveryIntegrationTests.notifications(agent, "project=\(id)&status=dead")
            dead = list.first { ($0["channel"] as? String)?.hasSuffix(".@pr9") == true }
            return dead != nil
        }
        let row = try #require(dead)
        #expect(row["attempts"] as? Int == 1, "a 403 is not retried: \(row)")
        #expect((row["lastAnswer"] as? String)?.contains("setting the commit status: HTTP 403") == true, "\(row)")
        let status = try await agent.request("GET", "/v1/projects/\(id)/audit-status")
        let codeHost = try #require(status.json["codeHost"] as? [String: Any], "\(status.text)")
        #expect(codeHost["state"] as? String == "dead" && (codeHost["lastAnswer"] as? String)?.contains("403") == true, "\(codeHost)")
    }

    @Test func gitlabMergeRequestsGetAStatusAndOneNoteEditedInPlace() async throws {
        let host = try await FakeCodeHost.start(token: "glpat-x")
        defer { host.stop() }
        let (agent, repo, id) = try await Self.agent(host, provider: "gitlab", apiPath: "/api/v4", repository: "group/sub/app")
        defer { agent.stop() }
        _ = try repo.git("checkout", "-q", "-b", "feature")
        for (i, action) in ["open", "update"].enumerated() {
            let sha = try Self.push(repo, "mr\(i)", ref: "refs/merge-requests/3/head")
            let r = try await Self.hook(agent, "gitlab", id, headers: ["X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Event-UUID": "g-\(i)"], [
                "object_kind": "merge_request",
                "object_attributes": ["iid": 3, "action": action, "target_branch": "main", "last_commit": ["id": sha]],
                "project": ["git_http_url": "https://gitlab.com/group/sub/app.git"],
            ])
            #expect(r.status == 202, "\(r.text)")
            try await eventually("the status of push \(i)", timeout: 60) { !host.statuses(sha).isEmpty }
            let s = try #require(host.statuses(sha).first)
            #expect(s["state"] as? String == "failed" && s["name"] as? String == "guardian", "\(s)")
            try await eventually("the note names push \(i)", timeout: 30) { host.comments("gl/3").first?.body.contains(String(sha.prefix(10))) == true }
        }
        #expect(host.comments("gl/3").count == 1)
        // the project id is the URL-encoded path, one segment
        #expect(host.calls.contains { $0.path.hasPrefix("/api/v4/projects/group%2Fsub%2Fapp/") }, "\(host.calls.map(\.path))")
        #expect(host.calls.allSatisfy { $0.headers["private-token"] == "glpat-x" })
    }

    @Test func bitbucketAndAzureGetTheirStatusesReportsAndThreads() async throws {
        let host = try await FakeCodeHost.start(token: "tok")
        defer { host.stop() }
        do {
            let (agent, repo, id) = try await Self.agent(host, provider: "bitbucket", apiPath: "/2.0", repository: "ws/app")
            defer { agent.stop() }
            _ = try repo.git("checkout", "-q", "-b", "feature")
            let sha = try Self.highFinding(repo, "bb")
            let r = try await Self.hook(agent, "bitbucket", id, headers: ["X-Event-Key": "pullrequest:created", "X-Request-UUID": "b-1"], [
                "pullrequest": ["id": 5, "source": ["commit": ["hash": String(sha.prefix(12))], "branch": ["name": "feature"]],
                                "destination": ["branch": ["name": "main"]]],
                "repository": ["full_name": "ws/app"],
            ])
            #expect(r.status == 202, "\(r.text)")
            try await eventually("the build status", timeout: 60) { !host.statuses(sha).isEmpty }
            let s = try #require(host.statuses(sha).first)
            #expect(s["key"] as? String == "guardian" && s["state"] as? String == "FAILED" && s["url"] != nil, "\(s)")
            try await eventually("the annotations", timeout: 30) { host.calls.contains { $0.path.hasSuffix("/reports/guardian/annotations") } }
            let annotations = try #require(host.calls.last { $0.path.hasSuffix("/annotations") })
            let list = try #require(try JSONSerialization.jsonObject(with: annotations.body) as? [[String: Any]])
            #expect(list.count == 1 && list[0]["path"] as? String == "app/bb.py" && list[0]["line"] as? Int == 6
                    && list[0]["annotation_type"] as? String == "VULNERABILITY" && list[0]["severity"] as? String == "HIGH", "\(list)")
        }
        do {
            let (agent, repo, id) = try await Self.agent(host, provider: "azure", apiPath: "/org", repository: "proj/app")
            defer { agent.stop() }
            _ = try repo.git("checkout", "-q", "-b", "topic")
            for i in 0..<2 {
                let sha = try Self.highFinding(repo, "az\(i)")
                let r = try await Self.hook(agent, "azure", id, headers: [:], [
                    "id": "az-\(i)", "eventType": i == 0 ? "git.pullrequest.created" : "git.pullrequest.updated",
                    "resource": ["pullRequestId": 11, "lastMergeSourceCommit": ["commitId": sha], "sourceRefName": "refs/heads/topic",
                                 "targetRefName": "refs/heads/main", "repository": ["remoteUrl": "https://dev.azure.com/org/proj/_git/app"]],
                ])
                #expect(r.status == 202, "\(r.text)")
                try await eventually("the thread names push \(i)", timeout: 60) { host.comments("az/11").first?.body.contains(String(sha.prefix(10))) == true }
            }
            #expect(host.comments("az/11").count == 1)
            let s = try #require(host.statuses("pr11").last)
            #expect(s["state"] as? String == "failed" && (s["context"] as? [String: Any])?["name"] as? String == "guardian", "\(s)")
        }
    }
}
