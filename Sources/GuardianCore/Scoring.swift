import Foundation

/// The score formula (docs/scoring.md).
///
/// For one check, the normalised penalty is
///
///     P = Σ weight(code violations) / max(1, KLOC) + Σ weight(repository violations)
///
/// with the low-severity part of that sum saturated at `lowCap`,
/// where KLOC is thousands of code lines audited, so a large repository is not punished for
/// being large. The score halves for every `halfLife` points of penalty:
///
///     score = round(100 · 2^(−P / halfLife))
///
/// Status: `passed` when score ≥ passScore, `failed` when score < failScore, else `warning`;
/// a critical violation caps the status at `warning` (or `failed` in compliance mode).
public enum Scoring {
    public static let halfLife: Double = 8

    /// The most that low-severity findings can add to a check's penalty, however many there are:
    /// at `halfLife`, lows alone keep the score at 50 or above, and no shipped profile's `failScore`
    /// is above 50, so volume of low findings alone never fails a check under them.
    public static let lowCap: Double = halfLife

    /// `lowCodeWeights`/`lowRepositoryWeights` are the low-severity part, which saturates at `lowCap`.
    public static func penalty(codeWeights: Double, repositoryWeights: Double, lowCodeWeights: Double = 0,
                               lowRepositoryWeights: Double = 0, codeLines: Int) -> Double {
        let kloc = max(1.0, Double(codeLines) / 1000.0)
        return codeWeights / kloc + repositoryWeights + saturated(lowCodeWeights / kloc + lowRepositoryWeights)
    }

    /// `lowCap · (1 − e^(−x / lowCap))`: about `x` while small, never more than `lowCap`.
    public static func saturated(_ x: Double) -> Double {
        guard x > 0 else { return 0 }
        return lowCap * (1 - exp(-x / lowCap))
    }

    public static func score(penalty: Double) -> Int {
        guard penalty > 0 else { return 100 }
        let s = 100.0 * pow(2.0, -penalty / halfLife)
        return Int(s.rounded(.toNearestOrAwayFromZero))
    }

    public static func status(score: Int, hasCritical: Bool, thresholds: Thresholds, complianceMode: Bool)
        -> CheckStatus
    {
        var status: CheckStatus
        if score >= thresholds.passScore {
            status = .passed
        } else if score < thresholds.failScore {
            status = .failed
        } else {
            status = .warning
        }
        if hasCritical {
            if complianceMode { status = .failed } else if status == .passed { status = .warning }
        }
        return status
    }

    /// Weighted mean of the check scores; skipped checks do not count.
    public static func health(scores: [Check: Int], statuses: [Check: CheckStatus], profile: TeamProfile) -> Int {
        var sum = 0.0, weights = 0.0
        for (check, score) in scores where statuses[check] != .skipped {
            let w = profile.weight(of: check)
            sum += w * Double(score)
            weights += w
        }
        guard weights > 0 else { return 100 }
        return Int((sum / weights).rounded(.toNearestOrAwayFromZero))
    }
}
