import Foundation
@testable import GuardianAudit
import Testing

/// The hand-written commit-message matchers agree with the regular expressions they replaced, on
/// real subjects, crafted edge cases (scopes, `!`, trailing white space and line ends, word
/// boundaries next to letters, digits, marks and joiners) and seeded random messages built from
/// the patterns' own pieces.
@Suite struct CommitPatternsTests {
    static func regex(_ p: String) -> NSRegularExpression { try! NSRegularExpression(pattern: p) }
    static let conventional = regex("^(feat|fix|docs|style|refactor|perf|test|tests|build|ci|chore|revert)(\\([^)]+\\))?!?: \\S")
    static let squash = regex(" \\(#[0-9]+\\)$")
    static let review = regex("\\(#[0-9]+\\)\\s*$|^Merge (pull request|branch|remote-tracking)|See merge request|^Merged in ")
    static let issue = regex("#[0-9]+|\\b[A-Z][A-Z0-9]+-[0-9]+\\b|/issues/[0-9]+|/pull/[0-9]+")

    static func matches(_ r: NSRegularExpression, _ s: String) -> Bool {
        r.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    static func squashed(_ s: String) -> String {
        guard let m = squash.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)), let r = Range(m.range, in: s) else { return s }
        return String(s[..<r.lowerBound])
    }

    static let crafted: [String] = [
        "", "feat: add x", "feat(core): add x", "feat(core)!: add x", "feat!: x", "feat():  x", "feat(): x", "feat( ): x",
        "feat(a)(b): x", "feat(a: x", "feat:x", "feat: ", "feat:  x", "feat: \u{00A0}x", "feat: \u{000B}x", "feat: \u{0085}x", "feat: \u{2028}x", "feat: \u{3000}x", "feat: \u{200B}x",
        "tests: more", "test(x)!: y", "testing: y", "Feat: x", " feat: x", "chore(deps): bump a from 1 to 2", "revert: \"x\"",
        "fix(a)) : x", "fix(é): ü", "docs(x)!!: y", "ci!: y", "perf(x):\ty",
        "Fix crash (#123)", "Fix crash (#123)\n", "Fix crash (#123)\r\n", "Fix crash (#123) ", "Fix crash (#123) \n", "Fix crash (#123)\u{0085}",
        "Fix crash (#123)\u{2028}", "Fix crash (#123)\u{000B}", "Fix (#12) crash", "Fix(#1)", " (#1)", "(#1)", "(#)", "x (#1a)", "x ( #1)",
        "x (#１２)", "Fix crash  (#9)", "a (#1) (#2)", "x (#12)\n\n",
        "Merge pull request #12 from a/b", "Merge branch 'main' of github.com:a/b", "Merge remote-tracking branch 'origin/x'",
        "Merge branchy", "Merged in feature (pull request #3)", "See merge request group/proj!12", "merge pull request #1",
        " Merge pull request #1", "Merge\u{0301} pull request", "Merge pull request\u{0301} #1",
        "Fixes #12", "fixes #", "#a", "see ABC-123", "ABC-123", "xABC-123", "ABC-123x", "ABC-123-", "AB-1", "A-1", "A1-2", "ABC-",
        "ABC-12\u{0301}", "éABC-12", "e\u{0301}ABC-12", "_ABC-12", "ABC-12_", "ABC-12\u{200D}", "\u{200C}ABC-12", "a\u{200C}ABC-12", "a\u{0301}ABC-12", " \u{0301}ABC-12", "ABC-12\u{00AD}", "1ABC-2",
        "ABC-١٢", "ABC-12.", "(ABC-12)", "https://github.com/a/b/issues/12", "/issues/", "/issues/x", "/pull/3", "/pulls/3",
        "multi\nline ABC-1 body", "refs: JIRA2-77\n\nbody", "ÀBC-12", "ABC-12ß", "ABC-12\u{0663}", "ABC‐12", "日本ABC-1", "ABC-1日本",
    ]

    static let subjects: [String] = [
        "Add NIOAsyncWriter (#2311)", "Fix a typo in the docs", "Bump version to 2.58.0", "feat(http): support trailers",
        "Merge pull request #57 from apple/fix", "Revert \"Use swift-atomics\" (#2190)", "WIP", "fixup! tidy",
        "[NIOHTTP2] don't leak streams", "Update CONTRIBUTORS.txt", "chore: release 1.2.3", "Fix SR-1234 crash",
        "Resolve GH-42", "See https://github.com/apple/swift-nio/pull/2000", "docs: fix #9 and #10",
    ]

    static func randomMessages(_ count: Int) -> [String] {
        let pieces = ["feat", "fix", "tests", "(", ")", "!", ":", " ", "\t", "\n", "\r", "\u{00A0}", "\u{0301}", "\u{200D}", "\u{200C}", "\u{00AD}", "\u{000B}", "#", "12",
                      "ABC", "A", "-", "9", "x", "é", "_", "/issues/", "/pull/", "Merge ", "pull request", "branch", "Merged in ",
                      "See merge request", "(#", "3)", "\u{2028}", "\u{0085}", "日", "ß", "١"]
        var state: UInt64 = 42
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        return (0..<count).map { _ in (0..<(1 + next() % 8)).map { _ in pieces[next() % pieces.count] }.joined() }
    }

    @Test func matchersAgreeWithTheExpressions() {
        for s in Self.crafted + Self.subjects + Self.randomMessages(20_000) {
            #expect(CommitPatterns.isConventional(s) == Self.matches(Self.conventional, s), "conventional: \(s.debugDescription)")
            #expect(CommitPatterns.withoutSquashSuffix(s) == Self.squashed(s), "squash: \(s.debugDescription)")
            #expect(CommitPatterns.arrivedByReview(s) == Self.matches(Self.review, s), "review: \(s.debugDescription)")
            #expect(CommitPatterns.referencesIssue(s) == Self.matches(Self.issue, s), "issue: \(s.debugDescription)")
        }
    }

    /// The cases the checks depend on, stated directly (the agreement above cannot show that both are wrong).
    @Test func knownAnswers() {
        #expect(CommitPatterns.isConventional("feat(core)!: add x"))
        #expect(!CommitPatterns.isConventional("feat:x"))
        #expect(CommitPatterns.withoutSquashSuffix("Fix crash (#123)") == "Fix crash")
        #expect(CommitPatterns.arrivedByReview("Fix crash (#123) "))
        #expect(!CommitPatterns.arrivedByReview("Fix (#12) crash"))
        #expect(CommitPatterns.referencesIssue("see ABC-123"))
        #expect(!CommitPatterns.referencesIssue("xABC-123"))
    }
}
