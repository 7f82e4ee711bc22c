import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Logging
import Testing

/// Air-gap bundles: real nodes over real SQLite, bundles as bytes and as files through the CLI.
@Suite struct AirGapTests {
    static func node(_ name: String) throws -> Node { try TestNode.make(name) }

    /// Registers `projects` projects (with a webhook secret) and stores `results` results for each,
    /// signed by the node; returns the result ids.
    @discardableResult
    static func seed(_ n: Node, projects: [String], results: Int, from start: Int = 0, at base: Double? = nil) throws -> [String] {
        // signed times one second apart, ending about now (a replica takes a result's time from its
        // signature, and refuses one far in the future)
        let now = base ?? Date().timeIntervalSince1970 - Double(results)
        var ids: [String] = []
        // stored a thousand at a time: one durable commit per result held a test thread for seconds
        // per thousand, and the suite's other tests waited on it
        var batch: [(ResultRecord, [FindingRecord])] = []
        func flush() throws {
            if !batch.isEmpty { try n.store.insert(results: batch) }
            batch.removeAll()
        }
        for p in projects {
            if try n.store.project(id: p) == nil {
                try n.registry.insert(project: ProjectRecord(id: p, name: p, repositoryUrl: "/nonexistent/guardian-airgap/\(p).git", team: "default",
                                                             branch: nil, scheduleSeconds: 0, profile: "default", webhookSecret: n.seal("hook-secret"),
                                                             credentials: n.seal("user:pass"), createdAt: now, updatedAt: now, lastAuditAt: nil, nextAuditAt: nil))
            }
            for i in start..<start + results {
                var report = AuditReport.sample(findings: 4)
                report.subject = AuditSubject(repository: "/nonexistent/guardian-airgap/\(p).git", commit: String(format: "%040x", i), revision: "HEAD",
                                              isGitRepository: true, project: p)
                let ms = Int64((now + Double(i)) * 1000)
                let (r, f) = ResultRecord.signed(report, envelope: try Attestation.sign(report.forSigning(atMs: ms), key: n.identity), project: p,
                                                 signer: n.nodeID, at: Timestamp.seconds(ms))
                batch.append((r, f))
                if batch.count == 1_000 { try flush() }
                ids.append(r.id)
            }
            try flush()
        }
        return ids
    }

    /// A bundle file of `results` results of `project`, signed by a new node outside any mesh.
    /// A bundle of `results` results written by a node of its own; `signer` is that node's id, which
    /// an importer names with `--trust`.
    static func bundleFile(_ name: String, project: String, results: Int) async throws -> (path: String, signer: String) {
        let source = try node(name)
        try seed(source, projects: [project], results: results)
        let file = source.dataDir.path + "/\(project).bundle"
        try #require(FileManager.default.createFile(atPath: file, contents: nil))
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        _ = try await source.exportBundle(project: nil, since: nil, keys: source.knownKeys()) { try out.write(contentsOf: $0) }
        try out.close()
        return (file, source.nodeID)
    }

    static func export(_ n: Node, project: String? = nil, since: Double? = nil) async throws -> [UInt8] {
        var out: [UInt8] = []
        _ = try await n.exportBundle(project: project, since: since, keys: n.knownKeys()) { out += $0 }
        return out
    }

    /// Imports bytes fed in uneven chunks (the reader must not care where chunks end).
    static func importing(_ n: Node, _ bytes: [UInt8], trust: [String] = []) async throws -> ImportReport {
        var chunks: [[UInt8]] = []
        var i = 0, size = 1
        while i < bytes.count {
            chunks.append(Array(bytes[i..<min(bytes.count, i + size)]))
            i += size
            size = size * 3 % 7919 + 1
        }
        return try await n.importBundle(AsyncStream { c in for x in chunks { c.yield(x) }; c.finish() }, trust: trust, keys: n.knownKeys())
    }

    static func ids(_ n: Node) throws -> Set<String> {
        var out: Set<String> = []
        for p in try n.store.projectIDs() { out.formUnion(try n.store.results(project: p, limit: 10_000, before: nil).map(\.id)) }
        return out
    }

    @Test func importTwiceAndOutOfOrderGivesTheSameState() async throws {
        let source = try Self.node("source")
        let first = try Self.seed(source, projects: ["alpha", "beta"], results: 10, at: Date().timeIntervalSince1970 - 1000)
        let bundle1 = try await Self.export(source)
        let cut = Date().timeIntervalSince1970 // the rename and the later results come after this
        // more results and a renamed project: the second bundle has only what changed since
        var beta = try #require(try source.store.project(id: "beta"))
        beta.name = "beta renamed"
        beta.updatedAt = Date().timeIntervalSince1970
        try source.registry.update(project: beta)
        let second = try Self.seed(source, projects: ["alpha"], results: 5, from: 200)
        let bundle2 = try await Self.export(source, since: cut)

        // a node that never saw the source imports the first bundle, its operator trusting the source:
        // every signature verifies with the key the bundle carries
        let target = try Self.node("target")
        let trust = [source.nodeID]
        let r1 = try await Self.importing(target, bundle1, trust: trust)
        #expect(r1.complete, "\(r1)")
        #expect(r1.imported == 20 && r1.alreadyPresent == 0 && r1.expectedResults == 20)
        #expect(r1.signers.map(\.id) == [source.nodeID] && r1.signers.first?.accepted == true && r1.signers.first?.results == 20)
        #expect(try Self.ids(target) == Set(first))
        let imported = try #require(try target.store.project(id: "alpha"))
        #expect(imported.webhookSecret == nil && imported.credentials == nil, "secrets never travel in a bundle")
        #expect(try target.store.tokenCount() == 0, "tokens never travel in a bundle")
        #expect(try target.store.findings(result: first[0], check: nil, severity: nil, onlyNew: false, limit: 100).count == 4)

        // again: nothing changes
        let again = try await Self.importing(target, bundle1, trust: trust)
        #expect(again.complete && again.imported == 0 && again.alreadyPresent == 20 && again.registryApplied == 0, "\(again)")

        // the second bundle, then on a third node both bundles in the other order: the same state
        let r2 = try await Self.importing(target, bundle2, trust: trust)
        #expect(r2.complete && r2.imported == 5 && r2.registryApplied == 1, "\(r2)")
        let other = try Self.node("other")
        #expect(try await Self.importing(other, bundle2, trust: trust).refused.values.reduce(0, +) == 0)
        #expect(try await Self.importing(other, bundle1, trust: trust).complete)
        #expect(try Self.ids(other) == Set(first + second))
        #expect(try Self.ids(target) == Set(first + second))
        for n in [target, other] {
            #expect(try n.store.project(id: "beta")?.name == "beta renamed", "the newer write wins whatever the order")
            #expect(try n.registry.digest() == (try target.registry.digest()))
        }
    }

    /// Imported (and replicated) results mark a finding new when the project's previous result
    /// did not have it, in the order the results come, within a batch and across batches.
    @Test func importedFindingsAreMarkedNewAgainstThePreviousResult() async throws {
        let source = try Self.node("new-source")
        let now = Date().timeIntervalSince1970
        try source.registry.insert(project: ProjectRecord(id: "alpha", name: "alpha", repositoryUrl: "/nonexistent/guardian-airgap/alpha.git", team: "default",
                                                          branch: nil, scheduleSeconds: 0, profile: "default", webhookSecret: nil, credentials: nil,
                                                          createdAt: now, updatedAt: now, lastAuditAt: nil, nextAuditAt: nil))
        // result k has fingerprints k and k+1; 9,000 results span two import batches (8,192 each)
        let count = 9_000
        var ids: [String] = []
        var batch: [(ResultRecord, [FindingRecord])] = []
        for k in 0..<count {
            var report = AuditReport.sample(findings: 2)
            let check = Check.allCases[0].rawValue
            report.magicResults[check]!.violations = [0, 1].map { d in
                Violation(ruleId: "r", severity: .low, file: "f", line: 1, message: "m", fingerprint: "fp\(k + d)", lineHash: "h")
            }
            report.magicResults.removeValue(forKey: Check.allCases[1].rawValue)
            report.subject = AuditSubject(repository: "/nonexistent/guardian-airgap/alpha.git", commit: String(format: "%040x", k), revision: "HEAD", isGitRepository: true)
            let (r, f) = ResultRecord.signed(report, envelope: try Attestation.sign(report, key: source.identity), project: "alpha",
                                             signer: source.nodeID, at: now + Double(k))
            batch.append((r, f))
            if batch.count == 1_000 || k == count - 1 {
                try await source.store.insert(results: batch)
                batch.removeAll()
            }
            ids.append(r.id)
        }
        let target = try Self.node("new-target")
        let report = try await target.importBundle(AsyncStream { [bytes = try await Self.export(source)] c in c.yield(bytes); c.finish() }, trust: [source.nodeID],
                                                   keys: target.knownKeys())
        #expect(report.imported == count && report.complete)
        for k in [0, 1, 2, 8191, 8192, 8193, count - 1] {
            let findings = try target.store.findings(result: ids[k], check: nil, severity: nil, onlyNew: false, limit: 10)
            let new = Set(findings.filter(\.isNew).map(\.fingerprint))
            #expect(findings.count == 2, "result \(k)")
            #expect(new == (k == 0 ? [] : ["fp\(k + 1)"]), "result \(k): \(new)")
        }
    }

    /// Bundles of format version 1 (result frames a replication push, checksummed whole) still
    /// import; a flipped byte outside a result's envelope (its project, its time), which no
    /// signature covers, is found in both versions.
    @Test func versionOneBundlesAndDamageOutsideTheEnvelope() async throws {
        let source = try Self.node("v1-source")
        _ = try Self.seed(source, projects: ["alpha"], results: 12)
        let v2 = try await Self.export(source)
        #expect(Array(v2.prefix(AirGapBundle.magic.count)) == AirGapBundle.magic)
        // the same bundle written as version 1, and where each result frame starts in both
        var reader = BundleReader()
        reader.feed(v2)
        var v1 = AirGapBundle.magicV1
        var starts: [(v2: Int, v1: Int)] = []
        while let item = reader.next() {
            switch item {
            case .frame(let kind, let body, _): v1 += AirGapBundle.frame(kind, body)
            case .result(let frame, let offset):
                let (records, ids) = try AirGapBundle.openResult(frame, version: 2).get()
                #expect(records.count == 1 && ids == records.map { DSSE.recordID($0.envelope) })
                starts.append((offset, v1.count))
                v1 += AirGapBundle.frame(.result, ResultSync.push(records).encode())
            case .damaged(_, let why): Issue.record("the export is damaged: \(why)")
            }
        }
        #expect(reader.version == 2 && starts.count == 12)
        let old = try await Self.importing(try Self.node("v1-target"), v1, trust: [source.nodeID])
        #expect(old.complete && old.imported == 12, "\(old)")

        // version 2: kind, length, then the project's 2-byte length and its first byte; the time follows the project ("alpha")
        for (n, at) in [starts[3].v2 + 7, starts[5].v2 + 7 + 5 + 2].enumerated() {
            var tampered = v2
            tampered[at] ^= 0x01
            let report = try await Self.importing(try Self.node("v2-flip-\(n)"), tampered, trust: [source.nodeID])
            #expect(!report.complete && report.damaged.count == 1 && report.imported == 11, "\(report)")
        }
        // version 1: kind, length, then the push's kind, count, the project's length and its first byte
        var tampered = v1
        tampered[starts[4].v1 + 8] ^= 0x01
        let report = try await Self.importing(try Self.node("v1-flip"), tampered, trust: [source.nodeID])
        #expect(!report.complete && report.damaged.count == 1 && report.imported == 11, "\(report)")
    }

    /// A version 2 result frame whose checksum holds but whose fields are not a result (written so
    /// by a faulty or hostile exporter) is refused with the reason, as a sync message would be.
    @Test func resultFramesWithBadFieldsAreRefused() throws {
        let good = ResultSync.Record(project: "alpha", createdAt: 1_800_000_000, envelope: Array("{}".utf8))
        let (records, ids) = try AirGapBundle.openResult(AirGapBundle.resultFrame(good), version: 2).get()
        #expect(records == [good] && ids == [DSSE.recordID(good.envelope)])
        for (record, reason) in [
            (ResultSync.Record(project: "alpha", createdAt: 1, envelope: []), "an empty envelope"),
            (ResultSync.Record(project: "alpha", createdAt: .nan, envelope: [1]), "a record time must be finite"),
            (ResultSync.Record(project: "alpha", createdAt: 1, envelope: [1], signerKey: [1, 2, 3]), "a signer key must be 32 bytes"),
            (ResultSync.Record(project: "", createdAt: 1, envelope: [1]), "a project id must be 1–256 bytes"),
        ] {
            guard case .failure(let damage) = AirGapBundle.openResult(AirGapBundle.resultFrame(record), version: 2) else {
                Issue.record("accepted: \(record)"); continue
            }
            #expect(damage.reason.hasSuffix("is not a result: \(reason)"), "\(damage.reason)")
        }
    }

    @Test func truncatedTamperedAndUntrustedBundles() async throws {
        let source = try Self.node("source")
        let ids = try Self.seed(source, projects: ["alpha"], results: 20)
        let bundle = try await Self.export(source)

        // from a node this one does not know, without --trust: nothing is imported, and the report says why
        let stranger = try Self.node("stranger")
        let unknown = try await Self.importing(stranger, bundle)
        #expect(!unknown.complete && unknown.imported == 0 && unknown.registryApplied == 0, "\(unknown)")
        #expect(unknown.signers.first?.accepted == false && unknown.signers.first?.reason?.contains("--trust") == true, "\(unknown.signers)")
        #expect(try stranger.store.project(id: "alpha") == nil && (try Self.ids(stranger)).isEmpty)

        // truncated: what is whole is imported, the rest is named
        let cutAt = bundle.count * 6 / 10
        let t = try Self.node("truncated")
        let trust = [source.nodeID]
        let partial = try await Self.importing(t, Array(bundle.prefix(cutAt)), trust: trust)
        #expect(!partial.complete && partial.truncated)
        #expect(partial.imported > 0 && partial.imported < 20)
        #expect(partial.missing?.contains("of 20 results") == true, "\(partial.missing ?? "")")
        #expect(try Self.ids(t).isSubset(of: Set(ids)) && (try Self.ids(t)).count == partial.imported)
        // the rest arrives later in a whole bundle
        #expect(try await Self.importing(t, bundle, trust: trust).imported == 20 - partial.imported)

        // one flipped byte inside a result: detected, reported, the other results imported
        var tampered = bundle
        let id = ids[7]
        let envelope = try #require(try source.store.result(id: id)).envelope
        let at = try #require(Self.find([UInt8](envelope), in: bundle))
        tampered[at + envelope.count / 2] ^= 0x20
        let x = try Self.node("tampered")
        let damaged = try await Self.importing(x, tampered, trust: trust)
        #expect(!damaged.complete && damaged.damaged.count == 1 && damaged.imported == 19, "\(damaged)")
        #expect(try !Self.ids(x).contains(id))

        // --trust names other keys: the results are refused, and so is the exporter's registry
        let otherKey = SigningKey().verifyingKey
        let u = try Self.node("untrusting")
        let refused = try await Self.importing(u, bundle, trust: [otherKey.base64])
        #expect(!refused.complete && refused.imported == 0 && refused.signers.first?.accepted == false, "\(refused)")
        #expect(try u.store.project(id: "alpha") == nil)
        let trusted = try await Self.importing(u, bundle, trust: [source.nodeID])
        #expect(trusted.complete && trusted.imported == 20, "\(trusted)")

        // not a bundle at all, and an empty file
        let notABundle = try await Self.importing(u, Array("hello, this is not a bundle".utf8))
        #expect(!notABundle.complete && notABundle.damaged.first?.contains("not a Guardian bundle") == true, "\(notABundle.damaged)")
        let empty = try await Self.importing(u, [])
        #expect(!empty.complete && !empty.damaged.isEmpty)
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard needle.count <= hay.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
        return nil
    }

    /// The CLI: offline on data directories, and against a running agent over HTTP.
    @Test func exportAndImportCommands() async throws {
        let source = try Self.node("source")
        try Self.seed(source, projects: ["alpha"], results: 3)
        var scheduled = StoreTests.project("beta") // hourly, no results yet
        scheduled.scheduleSeconds = 3600
        try source.registry.insert(project: scheduled)
        let file = source.dataDir.path + "/out.bundle"
        let exported = try CommandRunner.run(GuardianBinary.path, ["export", "--data-dir", source.dataDir.path, file])
        #expect(exported.status == 0 && exported.stdout.contains("3 results"), "\(exported.stdout) \(exported.stderr)")

        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let remote = ["--http-addr", "127.0.0.1:\(agent.port)", "--token", agent.adminToken]
        let imported = try CommandRunner.run(GuardianBinary.path, ["import"] + remote + ["--trust", source.nodeID, file])
        #expect(imported.status == 0 && imported.stdout.contains("3 imported") && imported.stdout.contains("complete"), "\(imported.stdout) \(imported.stderr)")
        let listed = try await agent.request("GET", "/v1/projects/alpha/results")
        #expect((listed.json["ids"] as? [String])?.count == 3)
        // the agent kept the signer's key from the bundle: the imported results verify there
        let one = try #require((listed.json["ids"] as? [String])?.first)
        let verified = try await agent.request("POST", "/v1/verify", body: try await agent.request("GET", "/v1/results/\(one)").body)
        #expect(verified.json["valid"] as? Bool == true, "\(verified.text)")
        let twice = try CommandRunner.run(GuardianBinary.path, ["import"] + remote + ["--trust", source.nodeID, "--format", "json", file])
        #expect(twice.status == 0 && twice.stdout.contains("\"alreadyPresent\" : 3"), "\(twice.stdout)")

        // a flipped byte: reported, exit 1
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count - 200] ^= 1
        let bad = source.dataDir.path + "/bad.bundle"
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        let offline = try Self.node("offline")
        let refused = try CommandRunner.run(GuardianBinary.path, ["import", "--data-dir", offline.dataDir.path, "--trust", source.nodeID, bad])
        #expect(refused.status == 1 && refused.stdout.contains("damaged: byte") && refused.stdout.contains("INCOMPLETE"), "\(refused.stdout) \(refused.stderr)")
        // the offline command audits nothing itself: the scheduled project it registered is due now
        // for the agent's scheduler (not a period away); the unscheduled one gets no next audit
        let registered = try offline.store.project(id: "alpha"), hourly = try offline.store.project(id: "beta")
        #expect(registered != nil && registered?.nextAuditAt == nil)
        #expect(hourly != nil && hourly!.nextAuditAt != nil && hourly!.nextAuditAt! <= Date().timeIntervalSince1970)

        // the agent exports over HTTP what it imported
        let back = source.dataDir.path + "/back.bundle"
        let viaHTTP = try CommandRunner.run(GuardianBinary.path, ["export"] + remote + ["--project", "alpha", back])
        #expect(viaHTTP.status == 0, "\(viaHTTP.stderr)")
        let fresh = try Self.node("fresh")
        // its results are the source's, its registry records the agent's: both are named
        let agentID = try #require(try await agent.request("GET", "/v1/node").json["id"] as? String)
        let report = try await Self.importing(fresh, try [UInt8](Data(contentsOf: URL(fileURLWithPath: back))), trust: [source.nodeID, agentID])
        #expect(report.imported == 3, "\(report)")
    }
}
