/// A concrete change that fixes a violation, or advice where no exact change exists.
public struct Suggestion: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case replacement, patch, advice }
    public var ruleId: String
    public var kind: Kind
    public var message: String
    public var file: String?
    public var line: Int?
    /// For `replacement`: the exact text to replace and what replaces it on `line`.
    public var original: String?
    public var replacement: String?
    /// For `patch`: a unified diff.
    public var patch: String?

    public init(ruleId: String, kind: Kind, message: String, file: String? = nil, line: Int? = nil,
                original: String? = nil, replacement: String? = nil, patch: String? = nil) {
        self.ruleId = ruleId; self.kind = kind; self.message = message; self.file = file; self.line = line
        self.original = original; self.replacement = replacement; self.patch = patch
    }
}

/// Why a finding does not count: a `guardian:ignore` comment in the code (`inSource`), or a
/// dismissal recorded outside it (`external`). The names are SARIF's suppression kinds.
public struct Suppression: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case inSource, external }
    public var kind: Kind
    public var justification: String?
    public init(kind: Kind, justification: String?) { self.kind = kind; self.justification = justification }
}

/// One finding of a check. `fingerprint` identifies it across unrelated edits.
public struct Violation: Codable, Sendable, Hashable {
    public var ruleId: String
    public var severity: Severity
    public var file: String?
    public var line: Int?
    public var column: Int?
    public var message: String
    public var fingerprint: String
    /// The SARIF `primaryLocationLineHash`: hash of rule + normalised line, and the occurrence index.
    public var lineHash: String
    public var fix: Suggestion?
    /// Set when the finding is suppressed: it is reported, but counts toward no score and no gate.
    public var suppression: Suppression?
    /// In a pull request's audit: whether the finding is new against the merge base (nil in every
    /// other audit; `--baseline` drops the old ones instead of marking them).
    public var isNew: Bool?

    public init(ruleId: String, severity: Severity, file: String?, line: Int?, column: Int? = nil,
                message: String, fingerprint: String, lineHash: String, fix: Suggestion? = nil, suppression: Suppression? = nil) {
        self.ruleId = ruleId; self.severity = severity; self.file = file; self.line = line; self.column = column
        self.message = message; self.fingerprint = fingerprint; self.lineHash = lineHash; self.fix = fix
        self.suppression = suppression
    }

    /// Whether the finding counts (toward scores and gates).
    public var isCounted: Bool { suppression == nil }

    /// Deterministic report order: file, line, column, rule, fingerprint.
    public static func reportOrder(_ a: Violation, _ b: Violation) -> Bool {
        let fa = a.file ?? "", fb = b.file ?? ""
        if fa != fb { return fa < fb }
        let la = a.line ?? 0, lb = b.line ?? 0
        if la != lb { return la < lb }
        let ca = a.column ?? 0, cb = b.column ?? 0
        if ca != cb { return ca < cb }
        if a.ruleId != b.ruleId { return a.ruleId < b.ruleId }
        return a.fingerprint < b.fingerprint
    }
}

/// A rule that could not run, and why (e.g. history rules outside a git repository).
public struct SkippedRule: Codable, Sendable, Hashable {
    public var ruleId: String
    public var reason: String
    public init(ruleId: String, reason: String) { self.ruleId = ruleId; self.reason = reason }
}
