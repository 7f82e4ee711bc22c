import Foundation
import GuardianCrypto
import GuardianTestKit
import Testing

/// Integration tests: real `guardian agent` processes on loopback, driven over HTTP and the CLI.
@Suite(.serialized) struct AgentIntegrationTests {
    static var binary: String { GuardianBinary.path }

    static func fixture() throws -> FixtureRepo {
        let repo = try FixtureRepo()
        try repo.write("app/main.py", "import os\n\n\ndef run(request):\n    \"\"\"Run.\"\"\"\n    os.system(request.path)\n")
        try repo.write("README.md", "# Demo\n")
        try repo.commit("feat: demo")
        return repo
    }

    func register(_ agent: AgentProcess, _ repo: FixtureRepo, extra: [String: Any] = [:]) async throws -> String {
        var body: [String: Any] = ["repositoryUrl": repo.path, "name": "demo"]
        for (k, v) in extra { body[k] = v }
        let r = try await agent.json("POST", "/v1/projects", body)
        #expect(r.status == 201, "\(r.text)")
        return try #require(r.json["id"] as? String)
    }

    /// An agent started on port 0 reports the port it bound, not the one it was given.
    @Test func theNodeReportsTheAddressItBound() async throws {
        let agent = try AgentProcess(binary: Self.binary)
        try await agent.start()
        defer { agent.stop() }
        let info = try await agent.request("GET", "/v1/node")
        #expect(info.json["httpAddress"] as? String == "127.0.0.1:\(agent.port)", "\(info.text)")
        let members = try await agent.request("GET", "/v1/members")
        #expect((members.json["members"] as? [[String: Any]])?.first?["httpAddress"] as? String == "127.0.0.1:\(agent.port)")
    }

    @Test func registerAuditVerifyAndTamper() async throws {
        let repo = try Self.fixture()
        let agent = try AgentProcess(binary: Self.binary)
        try await agent.start()
        let attrs = try FileManager.default.attributesOfItem(atPath: agent.dataDir + "/admin.token")
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let id = try await register(agent, repo)
        let status = try await agent.waitForResult(project: id)
        #expect(status["projectId"] as? String == id)
        #expect(status["overallHealthScore"] is Int)
        let magic = try #require(status["magicResults"] as? [String: Any])
        #expect(magic.count == 8)
        let strict = try #require(magic["strict"] as? [String: Any])
        for key in ["status", "score", "violations", "suggestions", "lastRun", "executionTime"] { #expect(strict[key] != nil) }
        #expect(status["teamConfiguration"] is [String: Any])
        #expect(status["commit"] as? String == (try repo.git("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)))

        // the stored envelope verifies, over HTTP and with the CLI
        let resultId = try #require(status["resultId"] as? String)
        let stored = try await agent.request("GET", "/v1/results/\(resultId)")
        #expect(stored.status == 200)
        #expect(DSSE.recordID([UInt8](stored.body)) == resultId) // the exact bytes are stored
        let ok = try await agent.request("POST", "/v1/verify", body: stored.body)
        #expect(ok.status == 200 && ok.json["valid"] as? Bool == true, "\(ok.text)")
        let file = agent.dataDir + "-result.json"
        try stored.body.write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let cli = try CommandRunner.run(Self.binary, ["verify", file, "--data-dir", agent.dataDir])
        #expect(cli.status == 0, "\(cli.stderr)")
        // tamper: change the payload
        var env = try JSONDecoder().decode(DSSEEnvelope.self, from: stored.body)
        let payload = String(decoding: Data(base64Encoded: env.payload)!, as: UTF8.self).replacingOccurrences(of: "os.system", with: "os.sistem")
        env.payload = Data(payload.utf8).base64EncodedString()
        let tampered = try JSONEncoder().encode(env)
        let bad = try await agent.request("POST", "/v1/verify", body: tampered)
        #expect(bad.status == 422 && bad.json["valid"] as? Bool == false)
        try tampered.write(to: URL(fileURLWithPath: file))
        #expect(try CommandRunner.run(Self.binary, ["verify", file, "--data-dir", agent.dataDir]).status == 1)

        // findings are queryable
        let f = try await agent.request("GET", "/v1/projects/\(id)/findings?check=strict&severity=high")
        let items = try #require(f.json["items"] as? [[String: Any]])
        #expect(items.contains { $0["ruleId"] as? String == "strict/dangerous-call" && $0["file"] as? String == "app/main.py" })
        #expect((try await agent.request("GET", "/v1/projects/\(id)/findings?severity=urgent")).status == 400)

        // a manual audit of a new commit is incremental and produces a second result, newest first
        try repo.write("app/more.py", "def f(x):\n    \"\"\"F.\"\"\"\n    return eval(x)\n")
        try repo.commit("feat: more")
        let t = try await agent.request("POST", "/v1/projects/\(id)/audits")
        #expect(t.status == 202)
        let done = try await agent.waitForTask(try #require(t.json["taskId"] as? String))
        #expect(done["state"] as? String == "succeeded", "\(done)")
        #expect(done["progress"] as? Double == 1)
        let results = try await agent.request("GET", "/v1/projects/\(id)/results")
        let ids = try #require(results.json["ids"] as? [String])
        #expect(ids.count == 2 && ids.first == done["resultId"] as? String)
        let newOnly = try await agent.request("GET", "/v1/projects/\(id)/findings?new=1")
        let newItems = try #require(newOnly.json["items"] as? [[String: Any]])
        #expect(newItems.contains { $0["file"] as? String == "app/more.py" })
        #expect(!newItems.contains { $0["file"] as? String == "app/main.py" })
        agent.stop()
    }

    @Test func restartKeepsEverythingAndKillLosesNoAcknowledgedResult() async throws {
        let repo = try Self.fixture()
        let agent = try AgentProcess(binary: Self.binary)
        try await agent.start()
        let id = try await register(agent, repo)
        _ = try await agent.waitForResult(project: id)
        // a burst of audits on new commits; remember every acknowledged (succeeded) result
        var acknowledged: [String] = []
        var tasks: [String] = []
        for i in 0..<6 {
            try repo.write("app/f\(i).py", "def f\(i)(x):\n    \"\"\"F.\"\"\"\n    return x + \(i)\n")
            try repo.commit("feat: f\(i)")
            let r = try await agent.request("POST", "/v1/projects/\(id)/audits?rev=" + (try repo.git("rev-parse", "HEAD")).trimmingCharacters(in: .whitespacesAndNewlines))
            tasks.append(try #require(r.json["taskId"] as? String))
        }
        for t in tasks.prefix(3) {
            let done = try await agent.waitForTask(t)
            if let rid = done["resultId"] as? String { acknowledged.append(rid) }
        }
        #expect(acknowledged.count == 3)
        agent.stop(signal: SIGKILL) // mid-burst
        try await agent.start()
        for rid in acknowledged {
            let r = try await agent.request("GET", "/v1/results/\(rid)")
            #expect(r.status == 200, "acknowledged result \(rid) lost after kill -9")
        }
        let projects = try await agent.request("GET", "/v1/projects")
        #expect((projects.json["items"] as? [Any])?.count == 1)
        // graceful stop and restart keep identity and token: the token read before the restart
        // still authenticates after it
        let token = agent.adminToken
        let nodeID = try #require(try await agent.request("GET", "/v1/node").json["id"] as? String)
        agent.stop(signal: SIGTERM)
        try await agent.start()
        let after = try await agent.request("GET", "/v1/node", token: token)
        #expect(after.status == 200 && after.json["id"] as? String == nodeID, "\(after.status) \(after.text)")
        agent.stop()
    }

    @Test func webhooksVerifySignaturesAndDeduplicate() async throws {
        let repo = try Self.fixture()
        let agent = try AgentProcess(binary: Self.binary)
        try await agent.start()
        let secret = "It's a Secret to Everybody"
        let id = try await register(agent, repo, extra: ["webhookSecret": secret])
        _ = try await agent.waitForResult(project: id)
        try repo.write("app/hook.py", "def h(x):\n    \"\"\"H.\"\"\"\n    return eval(x)\n")
        let sha = try repo.commit("feat: hook")
        let payload = try JSONSerialization.data(withJSONObject: [
            "ref": "refs/heads/main", "after": sha, "forced": true, "sender": ["login": "dev"],
            "repository": ["clone_url": repo.path],
        ])
        let good = "sha256=" + Sodium.hex(Sodium.hmacSHA256(key: Array(secret.utf8), message: [UInt8](payload)))
        func post(_ sig: String?, delivery: String, path: String = "/v1/hooks/github/\(id)") async throws -> AgentProcess.Reply {
            var h = ["X-GitHub-Event": "push", "X-GitHub-Delivery": delivery]
            if let sig { h["X-Hub-Signature-256"] = sig }
            return try await agent.request("POST", path, body: payload, token: "", headers: h)
        }
        let missing = try await post(nil, delivery: "d1")
        #expect(missing.status == 401)
        let wrong = try await post("sha256=" + String(repeating: "0", count: 64), delivery: "d1")
        #expect(wrong.status == 401 && wrong.json["error"] != nil)
        let accepted = try await post(good, delivery: "d1")
        #expect(accepted.status == 202, "\(accepted.text)")
        let task = try #require(accepted.json["taskId"] as? String)
        let duplicate = try await post(good, delivery: "d1")
        #expect(duplicate.status == 200 && duplicate.json["status"] as? String == "duplicate")
        let done = try await agent.waitForTask(task)
        #expect(done["state"] as? String == "succeeded", "\(done)")
        let status = try await agent.request("GET", "/v1/projects/\(id)/audit-status")
        #expect(status.json["commit"] as? String == sha)
        let flow = try #require((status.json["magicResults"] as? [String: Any])?["flow"] as? [String: Any])
        let violations = try #require(flow["violations"] as? [[String: Any]])
        #expect(violations.contains { $0["ruleId"] as? String == "flow/force-push" })
        // the same signed body under a new delivery id is a replay, not a new push
        let replay = try await post(good, delivery: "d2")
        #expect(replay.status == 200 && replay.json["status"] as? String == "duplicate", "\(replay.text)")
        // matched by repository URL without a project in the path (a new push)
        try repo.write("app/hook2.py", "def h2(x):\n    \"\"\"H.\"\"\"\n    return x\n")
        let sha2 = try repo.commit("feat: hook 2")
        let next = try JSONSerialization.data(withJSONObject: [
            "ref": "refs/heads/main", "after": sha2, "sender": ["login": "dev"], "repository": ["clone_url": repo.path],
        ])
        let nextSig = "sha256=" + Sodium.hex(Sodium.hmacSHA256(key: Array(secret.utf8), message: [UInt8](next)))
        let byURL = try await agent.request("POST", "/v1/hooks/github", body: next, token: "",
                                            headers: ["X-GitHub-Event": "push", "X-GitHub-Delivery": "d3", "X-Hub-Signature-256": nextSig])
        #expect(byURL.status == 202, "\(byURL.text)")
        agent.stop()
    }

    @Test func tokensTeamsAndBadInput() async throws {
        let repoA = try Self.fixture(), repoB = try Self.fixture()
        let agent = try AgentProcess(binary: Self.binary)
        try await agent.start()
        let a = try await register(agent, repoA, extra: ["team": "alpha", "name": "a"])
        let b = try await register(agent, repoB, extra: ["team": "beta", "name": "b"])
        let viewer = try await agent.json("POST", "/v1/tokens", ["role": "viewer", "team": "alpha"])
        #expect(viewer.status == 201)
        let vt = try #require(viewer.json["token"] as? String)
        let list = try await agent.request("GET", "/v1/projects", token: vt)
        let ids = (list.json["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        #expect(ids == [a])
        #expect(try await agent.request("GET", "/v1/projects/\(b)/audit-status", token: vt).status == 404)
        #expect(try await agent.request("GET", "/v1/projects/\(b)/results", token: vt).status == 404)
        #expect(try await agent.request("POST", "/v1/projects/\(a)/audits", token: vt).status == 403)
        #expect(try await agent.json("POST", "/v1/projects", ["repositoryUrl": repoA.path, "team": "alpha"], token: vt).status == 403)
        #expect(try await agent.request("GET", "/v1/projects", token: "gdn_nope").status == 401)
        #expect(try await agent.request("GET", "/v1/projects", token: "").status == 401)
        // revoke
        let vid = try #require(viewer.json["id"] as? String)
        #expect(try await agent.request("DELETE", "/v1/tokens/\(vid)").status == 204)
        #expect(try await agent.request("GET", "/v1/projects", token: vt).status == 401)
        // bad JSON, missing fields, unknown routes, oversized bodies: JSON errors
        let badJSON = try await agent.request("POST", "/v1/projects", body: Data("{not json".utf8))
        #expect(badJSON.status == 400 && (badJSON.json["error"] as? [String: Any])?["code"] as? String == "invalid_json")
        let noURL = try await agent.json("POST", "/v1/projects", ["name": "x"])
        #expect(noURL.status == 400)
        let unknown = try await agent.request("GET", "/v1/nothing-here")
        #expect(unknown.status == 404 && unknown.json["error"] != nil)
        let big = try await agent.request("POST", "/v1/projects", body: Data(repeating: 0x20, count: 3 << 20))
        #expect(big.status == 413 && big.json["error"] != nil, "status \(big.status): \(big.text.prefix(300))")
        let dup = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repoA.path, "team": "alpha"])
        #expect(dup.status == 409)
        #expect(try await agent.request("GET", "/livez", token: "").status == 200)
        #expect(try await agent.request("GET", "/readyz", token: "").status == 200)
        // metrics (swift-metrics through swift-prometheus): after the two registrations' audits
        _ = try await agent.waitForResult(project: a)
        _ = try await agent.waitForResult(project: b)
        let metrics = try await agent.request("GET", "/metrics", token: "")
        for line in ["# TYPE guardian_audit_queue_depth gauge", "# TYPE guardian_audit_duration_seconds histogram",
                     "guardian_audit_duration_seconds_count 2", "guardian_audits_total{outcome=\"succeeded\"} 2", "guardian_results_stored 2",
                     "guardian_audit_duration_seconds_bucket{le=\"+Inf\"} 2",
                     // the store's group commit: each stored result was acknowledged after a WAL sync
                     "# TYPE guardian_store_wal_fsync_duration_seconds histogram", "# TYPE guardian_store_commits_total counter"] {
            #expect(metrics.text.contains(line), "missing \(line) in:\n\(metrics.text)")
        }
        let syncs = metrics.text.split(separator: "\n").first { $0.hasPrefix("guardian_store_wal_fsync_duration_seconds_count ") }
            .flatMap { Int($0.split(separator: " ").last ?? "") }
        #expect((syncs ?? 0) >= 1, "the two results were acknowledged after at least one WAL sync: \(String(describing: syncs))")
        agent.stop()
    }

    @Test func vanishedRepositoryFailsCleanly() async throws {
        let repo = try Self.fixture()
        let agent = try AgentProcess(binary: Self.binary)
        try await agent.start()
        let id = try await register(agent, repo)
        _ = try await agent.waitForResult(project: id)
        // corrupt the mirror and remove the origin
        let mirror = agent.dataDir + "/mirrors/\(id).git"
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: mirror + "/HEAD"))
        try FileManager.default.removeItem(atPath: repo.path)
        let t = try await agent.request("POST", "/v1/projects/\(id)/audits")
        let done = try await agent.waitForTask(try #require(t.json["taskId"] as? String))
        #expect(done["state"] as? String == "failed")
        #expect((done["error"] as? String)?.contains("cannot mirror") == true, "\(done)")
        // the node keeps serving, and the earlier result is intact
        let status = try await agent.request("GET", "/v1/projects/\(id)/audit-status")
        #expect(status.status == 200 && status.json["resultId"] is String)
        agent.stop()
    }
}

/// Private repositories: credentials registered with a project reach libgit2's login challenge,
/// are stored encrypted, can be rotated with PATCH, and a wrong password is one clear failure.
@Suite struct PrivateRepositoryTests {
    @Test func credentialsAreUsedStoredEncryptedAndRotated() async throws {
        let repo = try AgentIntegrationTests.fixture()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-git-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let server = try PrivateGitServer(root: root, user: "alice", password: "s3cret-pass")
        let url = try server.publish(repo, as: "private")
        let agent = try AgentProcess(binary: AgentIntegrationTests.binary)
        // the test's git server speaks plain HTTP on loopback, which this agent allows
        try await agent.start(env: ["GUARDIAN_REPOSITORY_SCHEMES": "https,http"])

        // wrong password at registration: refused at once (an ls-remote), naming the user, never the password
        let refused = try await agent.json("POST", "/v1/projects", ["repositoryUrl": url, "name": "private", "credentials": "alice:wrong"])
        let refusal = (refused.json["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(refused.status == 400 && refusal.contains("as user alice") && !refusal.contains("wrong"), "\(refused.text)")
        let projects = try await agent.request("GET", "/v1/projects").json["items"] as? [Any]
        #expect(projects?.isEmpty == true, "nothing was registered: \(String(describing: projects))")
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": url, "name": "private", "credentials": "alice:s3cret-pass"])
        #expect(r.status == 201, "\(r.text)")
        let id = try #require(r.json["id"] as? String)
        #expect(r.json["hasCredentials"] as? Bool == true)
        _ = try await agent.waitForResult(project: id)

        // a password rotated to a wrong one: the audit fails, naming the user and the refusal, and does not loop
        #expect(try await agent.json("PATCH", "/v1/projects/\(id)", ["credentials": "alice:wrong"]).status == 200)
        let first = try await agent.request("POST", "/v1/projects/\(id)/audits")
        let failed = try await agent.waitForTask(try #require(first.json["taskId"] as? String))
        #expect(failed["state"] as? String == "failed")
        let message = (failed["error"] as? String) ?? ""
        #expect(message.contains("as user alice") && !message.contains("wrong"), "\(failed)")

        // rotate to the right password: the mirror is fetched and the audit succeeds
        let patched = try await agent.json("PATCH", "/v1/projects/\(id)", ["credentials": "alice:s3cret-pass"])
        #expect(patched.status == 200, "\(patched.text)")
        let second = try await agent.request("POST", "/v1/projects/\(id)/audits")
        let done = try await agent.waitForTask(try #require(second.json["taskId"] as? String))
        #expect(done["state"] as? String == "succeeded", "\(done)")
        let status = try await agent.request("GET", "/v1/projects/\(id)/audit-status")
        #expect(status.json["commit"] as? String == (try repo.git("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)))

        // the CLI registers with credentials too, from GUARDIAN_CREDENTIALS (off the command line)
        let cli = try CommandRunner.run(GuardianBinary.path, ["projects", "add", url, "--name", "private-cli", "--branch", "main", "--format", "json",
                                                              "--http-addr", "127.0.0.1:\(agent.port)", "--data-dir", agent.dataDir],
                                        env: ["GUARDIAN_CREDENTIALS": "alice:s3cret-pass"])
        #expect(cli.status == 0, "\(cli.stderr)")
        let viaCLI = try #require((try? JSONSerialization.jsonObject(with: Data(cli.stdout.utf8))) as? [String: Any])
        #expect(viaCLI["hasCredentials"] as? Bool == true)
        _ = try await agent.waitForResult(project: try #require(viaCLI["id"] as? String))

        // the secret is nowhere in the store's files in clear
        let files = try FileManager.default.contentsOfDirectory(atPath: agent.dataDir).filter { $0.hasPrefix("guardian.sqlite") }
        #expect(files.contains("guardian.sqlite"), "\(files)")
        for name in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: agent.dataDir + "/" + name))
            #expect(bytes.range(of: Data("s3cret-pass".utf8)) == nil, "credentials in clear in \(name)")
        }
        // and nothing anonymous gets in: removing the credentials makes the fetch fail again
        #expect(try await agent.json("PATCH", "/v1/projects/\(id)", ["credentials": ""]).json["hasCredentials"] as? Bool == false)
        let third = try await agent.request("POST", "/v1/projects/\(id)/audits")
        #expect(try await agent.waitForTask(try #require(third.json["taskId"] as? String))["state"] as? String == "failed")
        agent.stop()
    }
}

@Suite struct WebhookSignatureTests {
    /// GitHub's documented example for X-Hub-Signature-256.
    @Test func githubTestVector() {
        let sig = Sodium.hex(Sodium.hmacSHA256(key: Array("It's a Secret to Everybody".utf8), message: Array("Hello, World!".utf8)))
        #expect(sig == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    }
}

@Suite struct EventStreamTests {
    @Test func serverSentEventsWithResume() async throws {
        let repo = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: AgentIntegrationTests.binary)
        try await agent.start()
        let url = "http://127.0.0.1:\(agent.port)/v1/events"
        let out = agent.dataDir + "-events.txt"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-sN", "--max-time", "60", "-o", out, "-H", "Authorization: Bearer \(agent.adminToken)", url]
        try curl.run()
        defer { if curl.isRunning { kill(curl.processIdentifier, SIGKILL) } }
        func received() -> String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        // the stream is open once its preamble has arrived (polled: a loaded machine connects slowly)
        try await eventually("the event stream opened", timeout: 20, every: .milliseconds(50)) { received().contains(": guardian events") }
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "events"])
        let id = try #require(r.json["id"] as? String)
        _ = try await agent.waitForResult(project: id)
        try await eventually("audit.finished on the stream", timeout: 20, every: .milliseconds(50)) { received().contains("event: audit.finished") }
        kill(curl.processIdentifier, SIGKILL)
        curl.waitUntilExit()
        let text = received()
        for type in ["project.registered", "audit.queued", "audit.started", "audit.progress", "audit.finished"] {
            #expect(text.contains("event: \(type)"), "no \(type) in: \(text.prefix(500))")
        }
        #expect(text.contains("id: 1\n"))
        // resume: only events after id 2 come back
        let resumed = try CommandRunner.run("/usr/bin/curl", ["-sN", "--max-time", "1", "-H", "Authorization: Bearer \(agent.adminToken)",
                                                               "-H", "Last-Event-ID: 2", url])
        #expect(!resumed.stdout.contains("id: 1\n") && !resumed.stdout.contains("id: 2\n"))
        #expect(resumed.stdout.contains("id: 3\n"))
        let unauthorized = try CommandRunner.run("/usr/bin/curl", ["-s", "--max-time", "2", url])
        #expect(unauthorized.stdout.contains("unauthorized"))
        // an open stream (the agent wrote its preamble) does not block a graceful shutdown
        let open = try AttackKit.openEvents(agent, token: agent.adminToken)
        #expect(await agent.stopGracefully(timeout: 10), "SIGTERM did not stop the agent with an event stream open")
        _ = open
    }
}
