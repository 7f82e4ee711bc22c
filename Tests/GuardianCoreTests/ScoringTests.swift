import Foundation
import Testing
@testable import GuardianCore

@Suite struct ScoringTests {
    @Test func noPenaltyScoresHundred() {
        #expect(Scoring.score(penalty: 0) == 100)
    }

    @Test func scoreHalvesEveryHalfLife() {
        #expect(Scoring.score(penalty: Scoring.halfLife) == 50)
        #expect(Scoring.score(penalty: 2 * Scoring.halfLife) == 25)
    }

    @Test func scoreIsMonotonicAndBounded() {
        var last = 101
        for p in stride(from: 0.0, through: 200, by: 0.5) {
            let s = Scoring.score(penalty: p)
            #expect(s <= last)
            #expect((0...100).contains(s))
            last = s
        }
    }

    @Test func codePenaltyIsNormalisedBySize() {
        // the same density of findings gives the same penalty in a small and a large codebase
        let small = Scoring.penalty(codeWeights: 10, repositoryWeights: 0, codeLines: 5_000)
        let large = Scoring.penalty(codeWeights: 100, repositoryWeights: 0, codeLines: 50_000)
        #expect(small == large)
        // repository-level findings are not normalised
        #expect(Scoring.penalty(codeWeights: 0, repositoryWeights: 5, codeLines: 50_000) == 5)
        // tiny projects count as one KLOC
        #expect(Scoring.penalty(codeWeights: 3, repositoryWeights: 0, codeLines: 10) == 3)
    }

    @Test func lowSeverityVolumeAloneCannotFailACheck() {
        // a few lows count about as much as before; thousands saturate below the cap
        let few = Scoring.penalty(codeWeights: 0, repositoryWeights: 0, lowCodeWeights: 1, codeLines: 1_000)
        #expect(few > 0.9 && few < 1)
        let flood = Scoring.penalty(codeWeights: 0, repositoryWeights: 0, lowCodeWeights: 5_000, lowRepositoryWeights: 40, codeLines: 10_000)
        #expect(flood <= Scoring.lowCap && flood > Scoring.lowCap - 0.01)
        for s in stride(from: 0.0, through: 1.0, by: 0.05) {
            let t = Thresholds.forStrictness(s)
            #expect(Scoring.status(score: Scoring.score(penalty: flood), hasCritical: false, thresholds: t, complianceMode: false) != .failed,
                    "strictness \(s)")
        }
        // one medium on top of the flood still can
        let withMedium = Scoring.penalty(codeWeights: 0, repositoryWeights: 2, lowCodeWeights: 5_000, codeLines: 10_000)
        #expect(Scoring.status(score: Scoring.score(penalty: withMedium), hasCritical: false, thresholds: Thresholds.forStrictness(1),
                               complianceMode: false) == .failed)
    }

    @Test func statusFollowsThresholds() {
        let t = Thresholds.forStrictness(0.8)
        #expect(Scoring.status(score: t.passScore, hasCritical: false, thresholds: t, complianceMode: false) == .passed)
        #expect(Scoring.status(score: t.passScore - 1, hasCritical: false, thresholds: t, complianceMode: false) == .warning)
        #expect(Scoring.status(score: t.failScore - 1, hasCritical: false, thresholds: t, complianceMode: false) == .failed)
    }

    @Test func criticalCapsStatus() {
        let t = Thresholds.forStrictness(0.8)
        #expect(Scoring.status(score: 100, hasCritical: true, thresholds: t, complianceMode: false) == .warning)
        #expect(Scoring.status(score: 100, hasCritical: true, thresholds: t, complianceMode: true) == .failed)
    }

    @Test func healthWeightsFocusAreasAndIgnoresSkipped() {
        let profile = TeamProfile.startup // focus: tdd, flow
        let scores: [Check: Int] = [.tdd: 40, .git: 100, .flow: 100]
        let h = Scoring.health(scores: scores, statuses: [.tdd: .failed, .git: .passed, .flow: .skipped], profile: profile)
        // (2·40 + 1·100) / 3 = 60; flow is skipped
        #expect(h == 60)
    }

    @Test func strictnessTightensThresholds() {
        let lenient = Thresholds.forStrictness(0.2), strict = Thresholds.forStrictness(0.95)
        #expect(strict.maxCyclomatic < lenient.maxCyclomatic)
        #expect(strict.maxFunctionLines < lenient.maxFunctionLines)
        #expect(strict.minTestRatio > lenient.minTestRatio)
        #expect(strict.passScore > lenient.passScore)
        #expect(Thresholds.forStrictness(7) == Thresholds.forStrictness(1))
        #expect(Thresholds.forStrictness(0.8).maxCyclomatic == 11)
    }
}

@Suite struct ProfileTests {
    static var configs: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("configs/teams")
    }

    @Test(arguments: ["startup", "enterprise", "open-source"])
    func shippedProfileFilesMatchBuiltIns(name: String) throws {
        let file = Self.configs.appendingPathComponent("\(name).json").path
        let loaded = try TeamProfile.load(file)
        #expect(loaded == TeamProfile.builtIn[name])
    }

    @Test func enterpriseIsStrictest() {
        #expect(TeamProfile.enterprise.strictness == 0.95)
        #expect(TeamProfile.enterprise.complianceMode)
        #expect(!TeamProfile.enterprise.autoCorrection)
        #expect(TeamProfile.openSource.focusAreas == [.git, .sages])
        #expect(TeamProfile.startup.focusAreas == [.tdd, .flow])
    }

    @Test func badProfilesGiveClearErrors() throws {
        #expect(throws: GuardianError.self) { try TeamProfile.load("no-such-profile") }
        let bad = try #require("{\"name\": \"x\", \"strictness\": 3}".data(using: .utf8))
        do {
            _ = try TeamProfile.decode(bad, source: "x.json")
            Issue.record("strictness 3 must be refused")
        } catch let e as GuardianError {
            #expect(e.description.contains("strictness must be between 0 and 1"))
        }
        let missing = try #require("{\"strictness\": 0.5}".data(using: .utf8))
        #expect(throws: GuardianError.profile("profile m.json: missing key 'name'")) {
            try TeamProfile.decode(missing, source: "m.json")
        }
        let wrongCheck = try #require("{\"name\": \"x\", \"strictness\": 0.5, \"focus_areas\": [\"speed\"]}".data(using: .utf8))
        #expect(throws: GuardianError.self) { try TeamProfile.decode(wrongCheck, source: "w.json") }
    }

    @Test func checkListParsing() throws {
        #expect(try Check.parseList("strict, tdd,strict") == [.tdd, .strict])
        #expect(throws: GuardianError.self) { try Check.parseList("strict,nope") }
    }
}

@Suite struct FingerprintTests {
    @Test func whitespaceDoesNotChangeContentHash() {
        let a = Fingerprint.normalizedLineHash(Array("    let x = foo( 1 )".utf8))
        let b = Fingerprint.normalizedLineHash(Array("let x=foo(1)\r".utf8))
        #expect(a == b)
        #expect(a != Fingerprint.normalizedLineHash(Array("let y = foo(1)".utf8)))
    }

    @Test func fingerprintDependsOnPathContentAndOccurrence() {
        let c = Fingerprint.contentHash(ruleId: "strict/dangerous-call", normalizedLine: 42)
        let f0 = Fingerprint.make(path: "a.swift", contentHash: c, occurrence: 0)
        #expect(f0.count == 32)
        #expect(f0 == Fingerprint.make(path: "a.swift", contentHash: c, occurrence: 0))
        #expect(f0 != Fingerprint.make(path: "a.swift", contentHash: c, occurrence: 1))
        #expect(f0 != Fingerprint.make(path: "b.swift", contentHash: c, occurrence: 0))
        #expect(Fingerprint.lineHash(contentHash: c, occurrence: 0).hasSuffix(":1"))
        #expect(c != Fingerprint.contentHash(ruleId: "strict/hardcoded-secret", normalizedLine: 42))
    }

    @Test func stableHashIsFNV1a() {
        // FNV-1a 64 test vectors
        #expect(StableHash.of("") == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash.of("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.of("foobar") == 0x8594_4171_f739_67e8)
    }

    @Test func catalogCoversEveryCheckWithUniqueIds() {
        for check in Check.allCases { #expect(!RuleCatalog.rules(for: check).isEmpty) }
        #expect(Set(RuleCatalog.all.map(\.id)).count == RuleCatalog.all.count)
        for r in RuleCatalog.all { #expect(r.id.hasPrefix(r.check.rawValue + "/")) }
    }
}

@Suite struct ScoringDocsTests {
    /// docs/scoring.md's threshold table must match the code.
    @Test func thresholdTableMatchesCode() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/scoring.md")
        let page = try String(contentsOf: url, encoding: .utf8)
        let columns: [Double] = [0.7, 0.8, 0.85, 0.95]
        let mirror = { (t: Thresholds) in Dictionary(uniqueKeysWithValues: Mirror(reflecting: t).children.map { ($0.label!, "\($0.value)") }) }
        var rows = 0
        for line in page.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let name = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            for (i, s) in columns.enumerated() {
                let value = try #require(mirror(Thresholds.forStrictness(s))[name], "unknown threshold \(name)")
                let doc = cells[3 + i]
                if value.contains(".") {
                    #expect(abs(Double(value)! - Double(doc)!) < 0.006, "\(name) at \(s): code \(value), docs \(doc)")
                } else {
                    #expect(value == doc, "\(name) at \(s): code \(value), docs \(doc)")
                }
            }
            rows += 1
        }
        #expect(rows == Mirror(reflecting: Thresholds.forStrictness(0)).children.count - 1) // maxSubjectLength is fixed
    }

    @Test func learnedWeightsNeedEvidenceAndNeverVanish() {
        #expect(LearnedWeight.learned(ruleId: "r/x", team: "t", dismissed: 2, total: 10) == nil, "two dismissals are not evidence")
        #expect(LearnedWeight.learned(ruleId: "r/x", team: "t", dismissed: 3, total: 4) == nil, "four findings are too few")
        let half = LearnedWeight.learned(ruleId: "r/x", team: "t", dismissed: 6, total: 12)
        #expect(half?.weight == 0.5 && half?.explanation == "r/x weighs 0.5 for team t: 6 of 12 dismissed as false positive")
        #expect(LearnedWeight.learned(ruleId: "r/x", team: "t", dismissed: 15, total: 15)?.weight == 0.25, "never below a quarter")
        #expect(LearnedWeight.learned(ruleId: "r/x", team: "t", dismissed: 12, total: 15)?.explanation
            == "r/x weighs 0.25 for team t: 12 of 15 dismissed as false positive")
        #expect(LearnedWeight.learned(ruleId: "r/x", team: "t", dismissed: 5, total: 3)?.total == 5, "dismissals of findings gone since still count")
        let prior = LearnedWeight.communityPrior(ruleId: "r/x", team: "t", dismissed: 6, total: 12, teams: 2)
        #expect(prior?.weight == 0.5 && prior?.explanation == "r/x weighs 0.5 for team t: 6 of 12 dismissed as false positive by 2 teams that share their feedback (community prior)")
        #expect(LearnedWeight.communityPrior(ruleId: "r/x", team: "t", dismissed: 2, total: 12, teams: 3) == nil, "the same evidence bar")
    }
}
