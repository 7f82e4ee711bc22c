/// The eight audit checks ("magics") of the original design.
public enum Check: String, CaseIterable, Codable, Sendable, Comparable {
    case integrity, tdd, flow, sages, git, servant, strict, predictive

    /// The question the check answers, as the brief phrases it.
    public var question: String {
        switch self {
        case .integrity: "Is the code real?"
        case .tdd: "Is it tested?"
        case .flow: "Does change flow through review?"
        case .sages: "Is knowledge kept?"
        case .git: "Is history clean?"
        case .servant: "Is automation healthy?"
        case .strict: "Does the code meet thresholds?"
        case .predictive: "Where will defects come from?"
        }
    }

    public static func < (a: Check, b: Check) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Parses a comma-separated list such as `strict,tdd`.
    public static func parseList(_ text: String) throws -> [Check] {
        var out: [Check] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces).lowercased()
            guard let check = Check(rawValue: name) else {
                throw GuardianError.usage("unknown check '\(name)'; known checks: "
                    + Check.allCases.map(\.rawValue).joined(separator: ", "))
            }
            if !out.contains(check) { out.append(check) }
        }
        return out.sorted()
    }
}

/// Severity of a violation; the weight feeds the score formula (docs/scoring.md).
public enum Severity: String, CaseIterable, Codable, Sendable, Comparable {
    case critical, high, medium, low, info

    public var weight: Double {
        switch self {
        case .critical: 10
        case .high: 5
        case .medium: 2
        case .low: 1
        case .info: 0
        }
    }

    /// Higher rank is more severe.
    public var rank: Int {
        switch self {
        case .critical: 4
        case .high: 3
        case .medium: 2
        case .low: 1
        case .info: 0
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// Outcome of one check. `skipped` is used when none of a check's rules could run
/// (for example, history rules on a directory that is not a git repository).
public enum CheckStatus: String, Codable, Sendable {
    case passed, warning, failed, skipped
}

import Foundation

/// Errors a user sees. The CLI maps every case to exit code 2.
public enum GuardianError: Error, CustomStringConvertible, Sendable, Equatable {
    case usage(String)
    case repository(String)
    case io(String)
    case profile(String)

    public var description: String {
        switch self {
        case .usage(let m): m
        case .repository(let m): m
        case .io(let m): m
        case .profile(let m): m
        }
    }
}
