import Foundation
import GuardianCrypto
import GuardianTestKit
import Testing

/// Real agents on loopback: the registry replicated to every node, tokens valid mesh-wide, requests
/// forwarded to owners, audits run by the primary and their results pushed to the other owners.
@Suite(.serialized) struct MeshRegistryTests {
    /// Two owners per project, so that with three agents one of them is an outsider.
    static func start(_ name: String, key: String, join: String? = nil, dataDir: String? = nil) async throws -> AgentProcess {
        try await MeshIntegrationTests.start(name, key: key, join: join, dataDir: dataDir, env: ["GUARDIAN_REPLICATION_FACTOR": "2"])
    }

    /// Polls `check` until it is true, or records an issue after `timeout` seconds.
    static func eventually(_ what: String, timeout: Double = 30, _ check: () async throws -> Bool) async throws {
        try await GuardianTestKit.eventually(what, timeout: timeout, every: .milliseconds(200), check)
    }

    static func repo() throws -> FixtureRepo {
        let repo = try FixtureRepo()
        try repo.write("README.md", "# Demo\n\nA small project.\n")
        try repo.write("Sources/main.swift", "func add(_ a: Int, _ b: Int) -> Int { a + b }\nprint(add(1, 2))\n")
        _ = try repo.commit("initial")
        return repo
    }

    @Test func registryTokensForwardingAndResultsAcrossTheMesh() async throws {
        let key = ClusterKeyring.generate()
        let a = try await Self.start("alpha", key: key)
        let seed = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: key, join: seed)
        let c = try await Self.start("charlie", key: key, join: seed)
        let all = [a, b, c]
        try await MeshIntegrationTests.eventually("three alive", all) { s in s.count == 3 && s.values.allSatisfy { $0 == "alive" } }

        // every node's admin token works on every node
        for n in all {
            for token in [a.adminToken, b.adminToken, c.adminToken] {
                try await Self.eventually("admin tokens replicated") { try await n.request("GET", "/v1/projects", token: token).status == 200 }
            }
        }

        // a project registered on bravo appears everywhere; the primary audits it
        let repo = try Self.repo()
        let created = try await b.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "demo", "webhookSecret": "s3cret"])
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"] as? String)
        for n in all {
            try await Self.eventually("project on every node") { try await n.request("GET", "/v1/projects/\(id)?local=1").status == 200 }
        }
        let ownersReply = try await a.request("GET", "/v1/projects/\(id)/owners")
        let owners = try #require(ownersReply.json["owners"] as? [String])
        #expect(owners.count == 2)
        let byName = ["alpha": a, "bravo": b, "charlie": c]
        let primary = try #require(byName[owners[0]]), second = try #require(byName[owners[1]])
        let outsider = try #require(byName[Set(byName.keys).subtracting(owners).first ?? ""])
        for n in all {
            let r = try await n.request("GET", "/v1/projects/\(id)/owners")
            #expect(r.json["owners"] as? [String] == owners, "every node computes the same owners")
        }

        // the primary audits; the signed result is pushed to the other owner, not to the outsider
        try await Self.eventually("result on the primary", timeout: 60) {
            try await primary.request("GET", "/v1/projects/\(id)/audit-status?local=1").json["resultId"] is String
        }
        let resultId = try #require(try await primary.request("GET", "/v1/projects/\(id)/audit-status?local=1").json["resultId"] as? String)
        try await Self.eventually("result pushed to the second owner") {
            try await second.request("GET", "/v1/projects/\(id)/audit-status?local=1").json["resultId"] as? String == resultId
        }
        let local = try await outsider.request("GET", "/v1/projects/\(id)/audit-status?local=1")
        #expect(local.status == 200 && local.json["resultId"] == nil, "the outsider holds no results of its own")

        // any node answers: the outsider forwards to an owner and says who served it
        let forwarded = try await outsider.request("GET", "/v1/projects/\(id)/audit-status")
        #expect(forwarded.status == 200 && forwarded.json["resultId"] as? String == resultId, "\(forwarded.status) \(forwarded.text) \(outsider.output.suffix(2000))")
        #expect(forwarded.headers["x-guardian-served-by"].map(owners.contains) == true, "\(forwarded.headers)")
        let results = try await outsider.request("GET", "/v1/projects/\(id)/results")
        #expect((results.json["ids"] as? [String])?.first == resultId)
        let byId = try await outsider.request("GET", "/v1/results/\(resultId)")
        #expect(byId.status == 200 && DSSE.recordID([UInt8](byId.body)) == resultId, "the exact bytes, fetched from a member")

        // the forwarded request keeps the caller's rights: a viewer of another team sees nothing
        let viewer = try await a.json("POST", "/v1/tokens", ["role": "viewer", "team": "other"])
        let vt = try #require(viewer.json["token"] as? String)
        try await Self.eventually("viewer token on the outsider") { try await outsider.request("GET", "/v1/projects", token: vt).status == 200 }
        #expect(try await outsider.request("GET", "/v1/projects/\(id)/audit-status", token: vt).status == 404)

        // a member header that does not open with the cluster key is refused, never forwarded
        let forged = try await outsider.request("GET", "/v1/projects/\(id)/audit-status",
                                                headers: ["X-Guardian-Member": Sodium.base64Encode(Sodium.randomBytes(80))])
        #expect(forged.status == 401, "\(forged.text)")

        // a webhook that reaches the outsider is verified there, then handed to the primary, which
        // records the forced push and audits the commit; the result reaches the other owner
        try repo.write("Sources/more.swift", "func more() -> Int { 42 }\n")
        let sha = try repo.commit("feat: more")
        let payload = try JSONSerialization.data(withJSONObject: ["ref": "refs/heads/main", "after": sha, "forced": true,
                                                                  "sender": ["login": "dev"], "repository": ["clone_url": repo.path]])
        let signature = "sha256=" + Sodium.hex(Sodium.hmacSHA256(key: Array("s3cret".utf8), message: [UInt8](payload)))
        let hook = try await outsider.request("POST", "/v1/hooks/github/\(id)", body: payload, token: "",
                                              headers: ["X-GitHub-Event": "push", "X-GitHub-Delivery": "mesh-1", "X-Hub-Signature-256": signature])
        #expect(hook.status == 202 && hook.headers["x-guardian-served-by"] == owners[0], "\(hook.status) \(hook.text) \(hook.headers)")
        let badHook = try await outsider.request("POST", "/v1/hooks/github/\(id)", body: payload, token: "",
                                                 headers: ["X-GitHub-Event": "push", "X-GitHub-Delivery": "mesh-2", "X-Hub-Signature-256": "sha256=00"])
        #expect(badHook.status == 401 && badHook.headers["x-guardian-served-by"] == nil, "a bad signature is refused where it arrives")
        let hookTask = try #require(hook.json["taskId"] as? String)
        try await Self.eventually("webhook audit done on the primary", timeout: 60) {
            try await outsider.request("GET", "/v1/audits/\(hookTask)").json["state"] as? String == "succeeded"
        }
        for owner in [primary, second] {
            try await Self.eventually("webhook result on both owners") {
                try await owner.request("GET", "/v1/projects/\(id)/audit-status?local=1").json["commit"] as? String == sha
            }
        }
        let flow = try await outsider.request("GET", "/v1/projects/\(id)/findings?check=flow")
        #expect((flow.json["items"] as? [[String: Any]] ?? []).contains { $0["ruleId"] as? String == "flow/force-push" }, "\(flow.text)")

        // revoking a token on one node revokes it everywhere
        let viewerId = try #require(viewer.json["id"] as? String)
        #expect(try await a.request("DELETE", "/v1/tokens/\(viewerId)").status == 204)
        try await Self.eventually("revocation replicated") { try await outsider.request("GET", "/v1/projects", token: vt).status == 401 }

        // a node that was down catches up by anti-entropy when it comes back
        let downDir = c.dataDir
        #expect(await c.stopGracefully())
        let late = try await a.json("POST", "/v1/tokens", ["role": "admin", "name": "made while charlie was away"])
        let lateToken = try #require(late.json["token"] as? String)
        let c2 = try await Self.start("charlie", key: key, dataDir: downDir)
        try await Self.eventually("anti-entropy after a restart") { try await c2.request("GET", "/v1/projects", token: lateToken).status == 200 }

        // a delete anywhere is a delete everywhere (tombstone)
        #expect(try await c2.request("DELETE", "/v1/projects/\(id)").status == 204)
        for n in [a, b, c2] {
            try await Self.eventually("project deleted everywhere") { try await n.request("GET", "/v1/projects/\(id)?local=1").status == 404 }
        }
        for n in [a, b, c2] { n.stop() }
    }
}
