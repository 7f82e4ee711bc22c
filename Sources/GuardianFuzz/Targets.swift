import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import GuardianHTTP
import GuardianNode
import GuardianStore

extension Fuzz {
    /// Every decoder of bytes from outside: gossip datagrams (sealed and opened), stream frames,
    /// push-pull states, registry and result sync, shard messages, LAN announcements, member
    /// claims, DSSE envelopes and statements, air-gap bundles, and webhook payloads.
    public static let targets: [FuzzTarget] = [
        gossipDatagram, gossipSealed, streamFrames, pushPullStates, registrySync, resultSync, shardMessage,
        discovery, memberClaim, envelope, statement, bundle, webhookPayload,
    ]

    public static func target(named name: String) -> FuzzTarget? { targets.first { $0.name == name } }

    // MARK: shared fixtures (one key and one keyring for every run: fuzzing needs no fresh secrets)

    static let key = try! SigningKey(seed: Array(repeating: 7, count: 32)) // 32 bytes: a valid seed
    static let keyring = try! ClusterKeyring(primary: Sodium.base64Encode(Array(repeating: 9, count: 32))) // a valid key by construction
    static let now: Int64 = 1_800_000_000_000

    static let meta = NodeMeta(name: "node-a", id: key.verifyingKey.nodeID.value, publicKey: key.verifyingKey.base64,
                               address: "127.0.0.1:7946", httpAddress: "127.0.0.1:7780", version: "1", tags: ["capacity": "2", "team": "t"])

    static let messages: [Message] = [
        .ping(seq: 7, target: "node-b", source: "node-a", updates: [.alive(incarnation: 3, meta: meta)]),
        .pingReq(seq: 8, target: "node-c", targetAddress: "127.0.0.1:7947", source: "node-a", updates: [.suspect(name: "node-c", incarnation: 2, from: "node-a")]),
        .ack(seq: 9, source: "node-b", updates: [.dead(name: "node-d", incarnation: 5, from: "node-b")]),
        .nack(seq: 10, source: "node-b"),
        .gossip(source: "node-a", updates: [.alive(incarnation: 1, meta: meta), .dead(name: "node-a", incarnation: 1, from: "node-a")]),
    ]

    static let envelopeBytes: [UInt8] = {
        var report = AuditReport.sample(findings: 6)
        report.subject = AuditSubject(repository: "https://example.invalid/r.git", commit: String(repeating: "a", count: 40), revision: "HEAD",
                                      isGitRepository: true, project: "proj-1")
        return (try? Attestation.sign(report.forSigning(atMs: now), key: key)) ?? []
    }()

    static let records: [ResultSync.Record] = [
        ResultSync.Record(project: "proj-1", createdAt: 1_800_000_000, envelope: envelopeBytes, signerKey: key.verifyingKey.bytes),
        ResultSync.Record(project: "proj-2", createdAt: 1_800_000_001, envelope: Array("{}".utf8)),
    ]

    static let registryRecords: [RegistryRecord] = [
        RegistryRecord(kind: .project, id: "proj-1", stamp: HLC(wall: now, logical: 1, node: "node-a"),
                       value: Array(#"{"createdAt":1,"id":"proj-1","name":"p","profile":"default","repositoryUrl":"https://x/y.git","scheduleSeconds":0,"team":"t","updatedAt":1}"#.utf8)),
        RegistryRecord(kind: .token, id: "tok-1", stamp: HLC(wall: now, logical: 0, node: "node-b"), value: nil),
        RegistryRecord(kind: .team, id: "t", stamp: HLC(wall: now - 5, logical: 3, node: "node-a"), value: Array(#"{"id":"t","profile":"{}","updatedAt":1}"#.utf8)),
    ]

    // MARK: targets

    static let gossipDatagram = FuzzTarget("gossip-datagram", seeds: { messages.map(Wire.encode) }) { b in
        (try? Wire.decode(b)) != nil
    }

    static let gossipSealed = FuzzTarget("gossip-sealed", seeds: {
        messages.map { ClusterSeal.seal(Wire.encode($0), keyring: keyring, context: .datagram, now: now) }
    }) { b in
        var replay = ReplayWindow()
        guard let plain = try? ClusterSeal.open(b, keyring: keyring, context: .datagram, replay: &replay, now: now, maxSize: Wire.maxDatagram) else {
            return false
        }
        return (try? Wire.decode(plain)) != nil
    }

    /// Length-prefixed stream frames as a connection delivers them: the first frame read with the
    /// limit a stranger gets and accepted only as a hello, the rest with a member's limit; each
    /// frame's kind, its sealed message opened with the kind's context, and the message decoded as
    /// that kind says.
    static let streamFrames = FuzzTarget("stream-frames", seeds: {
        func frame(_ kind: UInt8, _ message: [UInt8]) -> [UInt8] {
            guard let context = StreamFrames.context(ofKind: kind) else { return [] }
            let body = [kind] + ClusterSeal.seal(message, keyring: keyring, context: context, now: now)
            return withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init) + body
        }
        let hello = frame(5, Array("guardian-stream-v2".utf8))
        return [
            hello + frame(1, Wire.encode(states: [MemberState(meta: meta, status: .alive, incarnation: 4)])),
            hello + frame(2, RegistrySync.records(registryRecords).encode()),
            hello + frame(3, ResultSync.push(records).encode()),
            hello + frame(4, ShardMessage.refused("busy").encoded()),
        ]
    }) { b in
        // before the hello: one frame within the stranger's limit, and it must be a hello that opens
        // (a peer sends nothing more until the answer: the next frame is read with a member's limit)
        guard b.count >= 4, let n = try? StreamFrames.length(b[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }, limit: StreamFrameLimits.unauthenticated),
              b.count >= 4 + n, n > 0, b[4] == 5, let context = StreamFrames.context(ofKind: 5) else { return false }
        let first = b[4..<4 + n]
        var replay = ReplayWindow()
        guard (try? ClusterSeal.open(Array(first.dropFirst()), keyring: keyring, context: context, replay: &replay, now: now)) == Array("guardian-stream-v2".utf8),
              let frames = try? StreamFrames.split(Array(b.dropFirst(4 + first.count)), limit: StreamFrameLimits.authenticated) else { return false }
        var accepted = false
        for f in frames {
            guard let kind = f.first, let context = StreamFrames.context(ofKind: kind) else { continue }
            var replay = ReplayWindow()
            guard let plain = try? ClusterSeal.open(Array(f.dropFirst()), keyring: keyring, context: context, replay: &replay, now: now) else { continue }
            switch kind {
            case 1: accepted = (try? Wire.decodeStates(plain)) != nil || accepted
            case 2: accepted = (try? RegistrySync.decode(plain)) != nil || accepted
            case 3: accepted = (try? ResultSync.decode(plain)) != nil || accepted
            case 4: accepted = (try? ShardMessage.decode(plain)) != nil || accepted
            default: accepted = true
            }
        }
        return accepted
    }

    static let pushPullStates = FuzzTarget("push-pull-states", seeds: {
        [Wire.encode(states: [MemberState(meta: meta, status: .alive, incarnation: 4),
                              MemberState(meta: NodeMeta(name: "node-b", address: "10.0.0.2:7946"), status: .suspect, incarnation: 9)])]
    }) { b in (try? Wire.decodeStates(b)) != nil }

    static let registrySync = FuzzTarget("registry-sync", seeds: {
        [RegistrySync.records(registryRecords).encode(), RegistrySync.ack(applied: 3, refused: 1).encode(), RegistrySync.digest(42).encode(),
         RegistrySync.inSync.encode(), RegistrySync.stamps(Dictionary(uniqueKeysWithValues: registryRecords.map { ($0.key, $0.stamp) })).encode(),
         RegistrySync.exchange(records: registryRecords, want: ["project/x", "team/t"]).encode()]
    }) { b in (try? RegistrySync.decode(b)) != nil }

    static let resultSync = FuzzTarget("result-sync", seeds: {
        let id = DSSE.recordID(envelopeBytes)
        return [ResultSync.push(records).encode(), ResultSync.pushed(stored: 2, refused: 0).encode(),
                ResultSync.open(from: "node-a", scope: 7, digest: SetDigest(count: 2, xor: 99)).encode(), ResultSync.needScope.encode(),
                ResultSync.scope(["proj-1", "proj-2"]).encode(), ResultSync.inSync.encode(),
                ResultSync.descend(expand: ["a", "b0"], leaves: [ResultSync.Leaf(prefix: String(id.prefix(2)), ids: [id])], records: records).encode(),
                ResultSync.reply(nodes: [ResultSync.TreeNode(prefix: "c", digest: SetDigest(count: 1, xor: 5))], records: records, want: [id], refused: 1).encode()]
    }) { b in (try? ResultSync.decode(b)) != nil }

    static let shardMessage = FuzzTarget("shard-message", seeds: {
        [ShardMessage.work(ShardWork(project: "proj-1", commit: String(repeating: "b", count: 40), index: 1, limits: AnalysisLimits(),
                                     files: [ShardFile(path: "Sources/a.swift", blob: Array(repeating: 1, count: 20))])).encoded(),
         ShardMessage.need([Array(repeating: 2, count: 20)]).encoded(), ShardMessage.pack(Array(repeating: 3, count: 100), last: true).encoded(),
         ShardMessage.done(envelopeBytes).encoded(), ShardMessage.refused("not registered").encoded()]
    }) { b in (try? ShardMessage.decode(b)) != nil }

    static let discovery = FuzzTarget("discovery", seeds: {
        [Discovery.encode(.init(name: "node-a", id: meta.id, publicKey: meta.publicKey, address: "127.0.0.1:7946"), signer: key)]
    }) { b in Discovery.decode(b) != nil }

    static let memberClaim = FuzzTarget("member-claim", seeds: {
        [MemberClaim(from: "node-a", to: "node-b", method: "GET", path: "/v1/projects/p/audit-status?x=1", bodyHash: MemberClaim.hash(body: []),
                     caller: .token(Principal(role: .maintainer, team: "t", tokenId: "tok-1"))).encode(),
         MemberClaim(from: "node-a", to: "node-b", method: "POST", path: "/v1/hooks/github/p", bodyHash: MemberClaim.hash(body: [1]),
                     caller: .webhook(project: "p")).encode()]
    }) { b in MemberClaim.decode(b) != nil }

    static let envelope = FuzzTarget("dsse-envelope", seeds: { [envelopeBytes] }) { b in
        _ = try? DSSE.parse(b)
        guard let (summary, _) = try? Attestation.verifySummary(b, trusted: [key.verifyingKey.nodeID.value: key.verifyingKey]) else { return false }
        return summary.project != nil
    }

    static let statement = FuzzTarget("statement", seeds: {
        var report = AuditReport.sample(findings: 9)
        report.subject.project = "p"
        return [(try? Attestation.statementBytes(report.forSigning(atMs: now))) ?? []]
    }) { b in (try? StatementSummary(statement: b)) != nil }

    /// A bundle as `guardian import` reads it: frames, their checksums and signatures, the header's
    /// and trailer's JSON, registry records, and result frames.
    static let bundle = FuzzTarget("bundle", seeds: {
        let signer = ["id": key.verifyingKey.nodeID.value, "publicKey": key.verifyingKey.base64]
        let header: [String: Any] = ["version": 2, "exporter": signer, "exporterName": "a", "createdAt": 1, "registry": 1, "results": 2,
                                     "signers": [signer], "unknownSigners": [String]()]
        let headerJSON = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])).map { [UInt8]($0) } ?? []
        var b = AirGapBundle.magic
        b += AirGapBundle.frame(.header, AirGapBundle.signed(headerJSON, by: key))
        b += AirGapBundle.frame(.registry, AirGapBundle.signed(RegistrySync.records([registryRecords[0]]).encode(), by: key))
        for r in records { b += AirGapBundle.resultFrame(r) }
        b += AirGapBundle.frame(.trailer, AirGapBundle.signed(Array(#"{"registry":1,"results":2}"#.utf8), by: key))
        return [b]
    }) { b in
        var reader = BundleReader()
        // fed in two pieces: a frame may span chunks
        let cut = b.count / 3
        reader.feed(b[..<cut])
        var accepted = false
        func drain() {
            while let item = reader.next() {
                switch item {
                case .frame(let kind, let body, _):
                    guard let content = AirGapBundle.opened(body, key: key.verifyingKey) else { continue }
                    switch kind {
                    case .header, .trailer: accepted = ((try? JSONSerialization.jsonObject(with: Data(content))) != nil) || accepted
                    case .registry: accepted = ((try? RegistrySync.decode(content)) != nil) || accepted
                    case .result: break
                    }
                case .result(let frame, _):
                    if case .success = AirGapBundle.openResult(frame, version: reader.version) { accepted = true }
                case .damaged:
                    break
                }
            }
        }
        drain()
        reader.feed(b[cut...])
        drain()
        return accepted
    }

    static let webhookPayload = FuzzTarget("webhook-payload", seeds: {
        let sha = String(repeating: "c", count: 40)
        let payloads: [[String: Any]] = [
            ["ref": "refs/heads/main", "after": sha, "forced": true, "sender": ["login": "dev"], "repository": ["clone_url": "https://h/r.git"]],
            ["action": "closed", "pull_request": ["merged": true, "merge_commit_sha": sha, "base": ["ref": "main"], "user": ["login": "a"],
                                                  "merged_by": ["login": "a"], "review_comments": 0], "repository": ["html_url": "https://h/r"]],
            ["checkout_sha": sha, "ref": "refs/heads/main", "user_username": "dev", "project": ["git_http_url": "https://h/r.git"]],
            ["push": ["changes": [["new": ["name": "main", "target": ["hash": sha]], "forced": false]]], "repository": ["full_name": "o/r"],
             "actor": ["nickname": "dev"]],
            ["id": "d-1", "resource": ["refUpdates": [["name": "refs/heads/main", "newObjectId": sha]], "repository": ["remoteUrl": "https://h/r"],
                                       "pushedBy": ["uniqueName": "dev"]]],
        ]
        return payloads.compactMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }.map { [UInt8]($0) }
    }) { b in
        var accepted = false
        for provider in ["github", "gitlab", "bitbucket", "azure"] {
            let isPR = String(decoding: b, as: UTF8.self).contains("pull_request")
            let headers = ["X-GitHub-Event": isPR ? "pull_request" : "push", "X-GitHub-Delivery": "d"]
            if let parsed = Webhooks.inspect(provider: provider, headers: headers, body: b), parsed.commit != nil { accepted = true }
        }
        return accepted
    }
}
