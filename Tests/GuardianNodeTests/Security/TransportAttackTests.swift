import Foundation
import GuardianCrypto
import GuardianMesh
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Testing

/// Attacks on what travels between nodes: the gossip TCP port without the cluster key, and member
/// headers of forwarded HTTP requests captured, replayed, redirected or forged.
@Suite(.serialized) struct TransportAttackTests {
    static func rssMB(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "").map { $0 / 1024 }
    }

    /// A stranger on the gossip TCP port: frames that declare 16 MB are refused before they are
    /// buffered, connections that never say hello are closed within seconds, and one address holds
    /// no more than a few at once; the node's memory does not move and members still get in.
    @Test func theGossipPortHoldsNothingForStrangers() async throws {
        let key = ClusterKeyring.generate()
        let agent = try await MeshIntegrationTests.start("target", key: key, env: ["GUARDIAN_DISCOVERY": "off"])
        defer { agent.stop() }
        let gossip = try #require(agent.gossipAddress)
        let port = try #require(Int(gossip.split(separator: ":").last ?? ""))
        let before = try #require(Self.rssMB(agent.pid))

        // 24 connections that each declare a 16 MB frame and send 4 MB of it (the probe's attack): each is
        // closed on the declared length, before the node buffers it
        var big: [RawTCP] = []
        let chunk = [UInt8](repeating: 0x41, count: 4 << 20)
        for _ in 0..<24 {
            let c = try RawTCP(port: port)
            _ = c.send([0x01, 0x00, 0x00, 0x00] + chunk)
            big.append(c)
        }
        for c in big { #expect(c.closedByPeer(within: 3), "a 16 MB frame header from a stranger was accepted") }

        // a stranger on another address holds as many silent connections as it can: past 8 it is
        // refused at once, the rest are closed within the hello deadline, and meanwhile a member
        // (on 127.0.0.1) gets in
        var silent: [RawTCP] = []
        for _ in 0..<40 { silent.append(try RawTCP(port: port, from: "127.0.0.2")) }
        let member = try AttackKit.pushRegistry(agent, key: key, [])
        #expect(member.applied == 0 && member.refused == 0, "a member was crowded out by a stranger's connections")
        let start = Date()
        for c in silent { #expect(c.closedByPeer(within: 10)) }
        #expect(Date().timeIntervalSince(start) < 6)
        #expect(try await AttackKit.metric(agent, "guardian_gossip_rejected_total", labels: "reason=\"too_many_connections\"").map { $0 >= 32 } == true)

        // a hello sealed with another key is not a hello
        let wrong = try RawTCP(port: port)
        _ = wrong.send(try AttackKit.frame(5, AttackKit.hello, key: ClusterKeyring.generate()))
        #expect(wrong.closedByPeer(within: 4))

        let after = try #require(Self.rssMB(agent.pid))
        #expect(after - before < 40, "RSS went from \(before) MB to \(after) MB")
        // a member still gets in, and registry sync answers it
        let ack = try AttackKit.pushRegistry(agent, key: key, [])
        #expect(ack.applied == 0 && ack.refused == 0)
    }

    /// A member header is bound to the member it is for, the method, the path and the body, opens
    /// once, and vouches only for a principal whose token the owner holds; the forwarding node
    /// sends no token. Checked on two real agents with a header sealed by the test (which holds the
    /// cluster key, as a captured copy would).
    @Test func memberClaimsAreBoundToTheirRequestAndOpenOnce() async throws {
        let key = ClusterKeyring.generate()
        let agents = try await AttackKit.threeAgents(key: key)
        defer { for a in agents.values { a.stop() } }
        let a = try #require(agents["alpha"])

        // a project of team t, owned by one of the two: read through the other one, the request is
        // forwarded with a claim and no token (an owner refuses a forwarded request that carries one)
        let repo = try AgentIntegrationTests.fixture()
        let created = try await a.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "claimed", "team": "t"])
        let id = try #require(created.json["id"] as? String, "\(created.text)")
        let viewer = try await AttackKit.token(a, role: "viewer", team: "t")
        let (ownerAgent, owner, others) = try await AttackKit.owner(of: id, in: agents)
        let other = others[0]
        try await AttackKit.eventually("the token and project reached the other member") {
            try await other.request("GET", "/v1/projects/\(id)", token: viewer.secret).status == 200
        }
        _ = try await ownerAgent.waitForResult(project: id)
        let forwarded = try await other.request("GET", "/v1/projects/\(id)/audit-status", token: viewer.secret)
        #expect(forwarded.status == 200 && forwarded.headers["x-guardian-served-by"] == owner, "\(forwarded.status) \(forwarded.text)")

        let path = "/v1/projects/\(id)/audit-status"
        let keyring = try ClusterKeyring(primary: key)
        func seal(_ claim: MemberClaim) -> String {
            Sodium.base64Encode(ClusterSeal.seal(claim.encode(), keyring: keyring, context: .member, now: AttackKit.wall()))
        }
        func claim(to: String, method: String = "GET", path p: String = path, body: [UInt8] = [], tokenId: String = viewer.id,
                   role: Principal.Role = .viewer, team: String? = "t") -> MemberClaim {
            MemberClaim(from: "mallory", to: to, method: method, path: p, bodyHash: MemberClaim.hash(body: body),
                        caller: .token(Principal(role: role, team: team, tokenId: tokenId)))
        }
        let ownerName = owner
        func send(_ agent: AgentProcess, _ header: String, method: String = "GET", path p: String = path, body: Data? = nil,
                  token: String = "") async throws -> Int {
            try await agent.request(method, p, body: body, token: token, headers: ["X-Guardian-Member": header]).status
        }
        // genuine: opens once on the node it names
        let good = seal(claim(to: ownerName))
        #expect(try await send(ownerAgent, good) == 200)
        #expect(try await send(ownerAgent, good) == 401, "a replayed header must not open twice")
        // for another node: refused on each of the others (a copy captured on its way to the owner is no key to them)
        for o in others {
            #expect(try await send(o, seal(claim(to: ownerName))) == 401, "a header for \(ownerName) opened on another member")
        }
        // another path, method or body than it was sealed for
        #expect(try await send(ownerAgent, seal(claim(to: ownerName, path: "/v1/projects/\(id)/findings")), path: path) == 401)
        #expect(try await send(ownerAgent, seal(claim(to: ownerName, method: "POST")), method: "GET") == 401)
        #expect(try await send(ownerAgent, seal(claim(to: ownerName, method: "POST", path: "/v1/projects/\(id)/audits", body: [1])),
                               method: "POST", path: "/v1/projects/\(id)/audits", body: Data([2])) == 401)
        // a principal no token here backs, or one that claims more than its token has
        #expect(try await send(ownerAgent, seal(claim(to: ownerName, tokenId: "tok-000000000000"))) == 401)
        #expect(try await send(ownerAgent, seal(claim(to: ownerName, role: .admin, team: nil))) == 401)
        // a forwarded request never carries a token: one that does is refused
        #expect(try await send(ownerAgent, seal(claim(to: ownerName)), token: viewer.secret) == 401)
        // garbage
        #expect(try await send(ownerAgent, "not base64 at all") == 401)
        #expect(try await send(ownerAgent, Sodium.base64Encode(Array(repeating: 1, count: 200))) == 401)
        // the owner counted each refusal
        #expect(try await AttackKit.metric(ownerAgent, "guardian_gossip_rejected_total", labels: "reason=\"replayed\"").map { $0 >= 1 } == true)
    }
}
