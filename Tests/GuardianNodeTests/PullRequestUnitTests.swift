import Foundation
import GuardianAudit
import GuardianCore
import GuardianHTTP
import GuardianNode
import GuardianTestKit
import Testing

/// The pure parts of pull request audits: provider detection, what each host's webhook names, the
/// summary comment's plan, review comments, the merge base and added lines, GitLab's report.
struct PullRequestUnitTests {
    @Test func providersAreDetectedFromPublicHostURLs() {
        #expect(CodeHost.detect(repositoryUrl: "https://github.com/apple/swift-nio.git")
                == CodeHost(provider: .github, apiUrl: "https://api.github.com", repository: "apple/swift-nio"))
        #expect(CodeHost.detect(repositoryUrl: "git@github.com:apple/swift-nio.git")?.repository == "apple/swift-nio")
        #expect(CodeHost.detect(repositoryUrl: "https://x-access-token:secret@github.com/o/r")?.repository == "o/r", "a login in the URL is not the host")
        #expect(CodeHost.detect(repositoryUrl: "https://gitlab.com/group/sub/app.git")
                == CodeHost(provider: .gitlab, apiUrl: "https://gitlab.com/api/v4", repository: "group/sub/app"))
        #expect(CodeHost.detect(repositoryUrl: "https://bitbucket.org/ws/app")?.apiUrl == "https://api.bitbucket.org/2.0")
        #expect(CodeHost.detect(repositoryUrl: "https://dev.azure.com/org/proj/_git/app")
                == CodeHost(provider: .azure, apiUrl: "https://dev.azure.com/org", repository: "proj/app"))
        #expect(CodeHost.detect(repositoryUrl: "https://git.example.com/o/r.git") == nil, "a self-managed host names its provider")
        #expect(CodeHost.detect(repositoryUrl: "/srv/repos/app") == nil)

        #expect(CodeHost(provider: .github, apiUrl: "https://api.github.com", repository: "o/r").problem() == nil)
        #expect(CodeHost(provider: .github, apiUrl: "https://api.github.com", repository: "o/r/x").problem() != nil)
        #expect(CodeHost(provider: .github, apiUrl: "https://api.github.com", repository: "../r").problem() != nil)
        #expect(CodeHost(provider: .gitlab, apiUrl: "ftp://gitlab", repository: "g/a").problem() != nil)
        #expect(CodeHost(provider: .github, apiUrl: "https://u:p@api.github.com", repository: "o/r").problem() != nil, "no login in the API URL")
        #expect(CodeHost(provider: .github, apiUrl: "https://api.github.com", repository: "o/r", reviewComments: 99).problem() != nil)
    }

    static func inspect(_ provider: String, _ headers: [String: String], _ body: [String: Any]) -> (commit: String?, ref: String?)? {
        Webhooks.inspect(provider: provider, headers: headers, body: [UInt8]((try? JSONSerialization.data(withJSONObject: body)) ?? Data()))
    }

    @Test func eachHostsRequestEventNamesItsHeadAndRef() {
        let sha = String(repeating: "ab", count: 20)
        let gh = Self.inspect("github", ["X-GitHub-Event": "pull_request"],
                              ["action": "synchronize", "number": 7, "pull_request": ["number": 7, "head": ["sha": sha], "base": ["ref": "main"]]])
        #expect(gh?.commit == sha && gh?.ref == "refs/pull/7/head")
        let closed = Self.inspect("github", ["X-GitHub-Event": "pull_request"],
                                  ["action": "labeled", "number": 7, "pull_request": ["number": 7, "head": ["sha": sha], "base": ["ref": "main"]]])
        #expect(closed?.commit == nil && closed?.ref == nil, "only opened, synchronize and reopened audit a request")
        let gl = Self.inspect("gitlab", [:], ["object_kind": "merge_request",
                                             "object_attributes": ["iid": 3, "action": "update", "target_branch": "main", "last_commit": ["id": sha]]])
        #expect(gl?.commit == sha && gl?.ref == "refs/merge-requests/3/head")
        let bb = Self.inspect("bitbucket", ["X-Event-Key": "pullrequest:updated"],
                              ["pullrequest": ["id": 5, "source": ["commit": ["hash": "abcdef012345"], "branch": ["name": "feature/x"]],
                                               "destination": ["branch": ["name": "main"]]]])
        #expect(bb?.commit == "abcdef012345" && bb?.ref == "refs/heads/feature/x")
        let az = Self.inspect("azure", [:], ["eventType": "git.pullrequest.created",
                                            "resource": ["pullRequestId": 11, "lastMergeSourceCommit": ["commitId": sha],
                                                         "sourceRefName": "refs/heads/topic", "targetRefName": "refs/heads/main"]])
        #expect(az?.commit == sha && az?.ref == "refs/heads/topic")
        // a payload cannot choose what the mirror fetches: a refspec, a glob or a path escape is no request
        for branch in ["main:refs/heads/x", "*", "a..b", "-x", "a b", "x\u{0}y"] {
            let bad = Self.inspect("bitbucket", ["X-Event-Key": "pullrequest:updated"],
                                   ["pullrequest": ["id": 5, "source": ["commit": ["hash": "abcdef012345"], "branch": ["name": branch]],
                                                    "destination": ["branch": ["name": "main"]]]])
            #expect(bad?.ref == nil, "branch \(branch.debugDescription)")
        }
        let badHead = Self.inspect("github", ["X-GitHub-Event": "pull_request"],
                                   ["action": "opened", "number": 7, "pull_request": ["number": 7, "head": ["sha": "HEAD~1"], "base": ["ref": "main"]]])
        #expect(badHead?.ref == nil)
    }

    static func report(at: Int64 = 2_000, findings: [PullRequestReport.Finding] = [], added: [String: [Int]] = [:]) -> PullRequestReport {
        PullRequestReport(project: "p-1", projectName: "p", number: 7, head: String(repeating: "c", count: 40), base: String(repeating: "b", count: 40),
                          resultId: "r", createdAtMs: at, health: 81, gatePassed: findings.isEmpty, gateReasons: [], newFindings: findings,
                          newCount: findings.count, totalCount: findings.count + 3, addedLines: added, link: nil)
    }

    static func finding(_ fp: String, _ severity: String, _ file: String, _ line: Int) -> PullRequestReport.Finding {
        PullRequestReport.Finding(check: "strict", ruleId: "strict/dangerous-call", severity: severity, file: file, line: line,
                                  message: "os.system() runs <a shell> | with @team", fingerprint: fp)
    }

    @Test func oneSummaryCommentIsFoundByItsMarkerEditedAndNeverOverwrittenByAnOlderResult() {
        let r = Self.report()
        #expect(CommentPlan.decide(existing: [("1", "unrelated")], report: r) == .create)
        let older = Self.report(at: 1_000).commentBody, newer = Self.report(at: 3_000).commentBody
        #expect(CommentPlan.decide(existing: [("1", "hi"), ("2", older)], report: r) == .edit(id: "2", delete: []))
        #expect(CommentPlan.decide(existing: [("2", older), ("5", older)], report: r) == .edit(id: "2", delete: ["5"]), "a repeat is removed")
        #expect(CommentPlan.decide(existing: [("2", newer)], report: r) == .keep, "a later push's comment stays")
        let body = Self.report(findings: [Self.finding("f1", "high", "a.py", 3)]).commentBody
        #expect(body.contains("&lt;a shell&gt; \\| with @\u{200B}team"), "repository text is escaped: \(body)")
        #expect(!body.contains("<a shell>"))
        var sneaky = Self.finding("f9", "high", "a`.py", 3)
        sneaky.message = "see [here](https://evil.example) ![x](y)"
        let escaped = Self.report(findings: [sneaky]).commentBody
        #expect(!escaped.contains("a`.py") && escaped.contains("a'.py"), "no way out of the code span: \(escaped)")
        #expect(!escaped.contains("[here](") && !escaped.contains("![x]"), "no links or images from a repository: \(escaped)")
    }

    @Test func reviewCommentsAreForNewHighFindingsOnAddedLinesWithoutOne() {
        let fs = [Self.finding("f1", "high", "a.py", 3), Self.finding("f2", "critical", "a.py", 9), Self.finding("f3", "medium", "a.py", 4),
                  Self.finding("f4", "high", "b.py", 1), Self.finding("f5", "high", "a.py", 5)]
        let r = Self.report(findings: fs, added: ["a.py": [3, 4, 5], "b.py": [2]])
        #expect(r.reviewComments(existing: [], limit: 10).map(\.fingerprint) == ["f1", "f5"], "off the added lines or below high: none")
        #expect(r.reviewComments(existing: [PullRequestReport.reviewBody(fs[0])], limit: 10).map(\.fingerprint) == ["f5"], "one per finding")
        #expect(r.reviewComments(existing: [], limit: 1).count == 1)
        var failed = Self.report()
        failed.error = String(repeating: "x", count: 300)
        #expect(failed.statusDescription.count == 140 && failed.state == .error)
    }

    @Test func theMergeBaseAndTheAddedLinesComeFromTheMirror() throws {
        let repo = try FixtureRepo()
        try repo.write("a.txt", "one\ntwo\n")
        let base = try repo.commit("base")
        _ = try repo.git("checkout", "-q", "-b", "feature")
        try repo.write("a.txt", "one\nnew\ntwo\nend\n")
        try repo.write("b.txt", "b\n")
        let head = try repo.commit("feature")
        _ = try repo.git("checkout", "-q", "main")
        try repo.write("c.txt", "main moves on\n")
        _ = try repo.commit("main")
        #expect(try Mirror.mergeBase(in: repo.path, head, "refs/heads/main") == base)
        #expect(try Mirror.addedLines(in: repo.path, from: base, to: head) == ["a.txt": [2, 4], "b.txt": [1]])
        #expect(try Mirror.resolve(in: repo.path, String(head.prefix(12))) == head)
    }

    @Test func gitlabsCodeQualityReportListsCountedFindings() throws {
        let repo = try AgentIntegrationTests.fixture()
        var options = AuditOptions(target: repo.path)
        options.cacheDirectory = nil
        let report = try Auditor.run(options)
        let data = try ReportRenderer.render(report, as: .codequality)
        let issues = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let counted = report.allViolations.filter(\.isCounted)
        #expect(issues.count == counted.count && !issues.isEmpty)
        let shell = try #require(issues.first { $0["check_name"] as? String == "strict/dangerous-call" })
        #expect(shell["severity"] as? String == "critical" && (shell["location"] as? [String: Any])?["path"] as? String == "app/main.py")
        #expect(((shell["location"] as? [String: Any])?["lines"] as? [String: Any])?["begin"] as? Int == 6)
        #expect(Set(issues.compactMap { $0["fingerprint"] as? String }).count == issues.count, "fingerprints are unique in a report")
    }
}

/// `BlockingCall`: a call that never returns is answered at its deadline, and hung calls are bounded.
@Suite(.serialized) struct BlockingCallTests {
    @Test func aHungCallIsAnsweredAtItsDeadlineAndHungCallsAreBounded() async throws {
        // the calls hang until the test lets them go: nothing here depends on how fast the machine is
        let gate = DispatchSemaphore(value: 0)
        await #expect(throws: (any Error).self, "the deadline answers a call that has not returned") {
            _ = try await BlockingCall.run(seconds: 0.2, "test") { gate.wait(); return 1 }
        }
        for _ in 0..<(BlockingCall.limit - 1) {
            await #expect(throws: (any Error).self) { _ = try await BlockingCall.run(seconds: 0.05, "test") { gate.wait(); return 1 } }
        }
        await #expect(throws: BlockingCall.Busy.self, "the hung calls still hold their threads") {
            _ = try await BlockingCall.run(seconds: 5, "test") { 1 }
        }
        for _ in 0..<BlockingCall.limit { gate.signal() }
        try await eventually("the released calls ended", timeout: 30) { (try? await BlockingCall.run(seconds: 5, "test") { 7 }) == 7 }
        #expect(try await BlockingCall.run(seconds: 5, "test") { 42 } == 42)
    }
}
