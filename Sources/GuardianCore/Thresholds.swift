/// Effective thresholds. Each one moves linearly with the team's strictness `s` (0–1)
/// between a lenient end (s = 0) and a strict end (s = 1); see docs/scoring.md.
public struct Thresholds: Codable, Sendable, Equatable {
    public var maxCyclomatic: Int
    public var maxFunctionLines: Int
    public var maxParameters: Int
    public var maxNesting: Int
    public var maxFileLines: Int
    public var duplicateMinLines: Int
    public var minTestRatio: Double
    public var minCoverage: Double
    public var maxCommitFiles: Int
    public var maxCommitLines: Int
    public var minMergedShare: Double
    public var minConventionalShare: Double
    public var maxSubjectLength: Int
    public var maxUntestedCommitShare: Double
    public var largeFileBytes: Int
    /// Score at or above which a check passes.
    public var passScore: Int
    /// Score below which a check fails.
    public var failScore: Int

    static func lerp(_ lenient: Double, _ strict: Double, _ s: Double) -> Double { lenient + (strict - lenient) * s }
    static func ilerp(_ lenient: Double, _ strict: Double, _ s: Double) -> Int {
        Int((lerp(lenient, strict, s)).rounded(.toNearestOrAwayFromZero))
    }

    public static func forStrictness(_ raw: Double) -> Thresholds {
        let s = min(1, max(0, raw))
        return Thresholds(
            maxCyclomatic: ilerp(25, 8, s),
            maxFunctionLines: ilerp(200, 40, s),
            maxParameters: ilerp(10, 4, s),
            maxNesting: ilerp(8, 3, s),
            maxFileLines: ilerp(3000, 500, s),
            duplicateMinLines: ilerp(30, 6, s),
            minTestRatio: lerp(0.05, 0.5, s),
            minCoverage: lerp(0.3, 0.85, s),
            maxCommitFiles: ilerp(200, 20, s),
            maxCommitLines: ilerp(5000, 400, s),
            minMergedShare: lerp(0.0, 0.8, s),
            minConventionalShare: lerp(0.1, 0.9, s),
            maxSubjectLength: 72,
            maxUntestedCommitShare: lerp(0.95, 0.4, s),
            largeFileBytes: ilerp(10_000_000, 500_000, s),
            passScore: ilerp(50, 80, s),
            failScore: ilerp(20, 50, s))
    }
}
