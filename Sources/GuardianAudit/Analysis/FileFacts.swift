import GuardianCore

/// Per-function measurements.
struct FunctionFacts: Sendable, Equatable {
    var name: String
    var startLine: Int32
    var endLine: Int32
    var ccn: Int32
    var params: Int32
    var maxNesting: Int32
    /// Normalised hash of the function's first line, for fingerprints.
    var signatureHash: UInt64
    var isTest: Bool
    var hasAssertion: Bool
    /// `case` labels counted in `ccn`, and the `switch` statements they belong to.
    var switchCases: Int32 = 0
    var switches: Int32 = 0
    /// Lines of the function that hold code: not blank, not only comment, not its docstring.
    var codeLength: Int32 = 0

    var length: Int32 { endLine - startLine + 1 }
    /// Complexity with each `switch` counted once, whatever its number of cases (lizard's
    /// "modified CCN"): a flat switch that maps values is one decision for a reader.
    var modifiedCcn: Int32 { ccn - switchCases + min(switches, switchCases) }
}

/// A finding that does not depend on thresholds, found while analysing one file.
struct RawFinding: Sendable, Equatable {
    var ruleId: String
    var severity: Severity
    var line: Int32
    var column: Int32
    /// Hash of rule id + normalised line content (or a stable key for file-level findings).
    var contentHash: UInt64
    var message: String
    var fixOriginal: String?
    var fixReplacement: String?
}

/// An undocumented public member of a type with a conformance list: its line and name.
struct PossibleWitness: Sendable, Equatable {
    var line: Int32
    var name: String
}

/// A `guardian:ignore RULE-ID[, RULE-ID…] [-- reason]` comment: the rules it names (none: every
/// rule) on its own line and the line below it.
struct InlineSuppression: Sendable, Equatable {
    var line: Int32
    var rules: [String]
    var reason: String?

    func covers(ruleId: String, line l: Int) -> Bool {
        (Int(line) == l || Int(line) + 1 == l) && (rules.isEmpty || rules.contains(ruleId))
    }
}

/// Everything Guardian learns from one blob. Cached by (path, blob id, analyzer version, limits):
/// thresholds are applied afterwards, so changing strictness never invalidates the cache.
struct FileFacts: Sendable, Equatable {
    var language: Language
    var isTest: Bool
    var skipReason: String?
    var bytes: Int64 = 0
    var lines: Int32 = 0
    var codeLines: Int32 = 0
    var commentLines: Int32 = 0
    var functions: [FunctionFacts] = []
    var findings: [RawFinding] = []
    /// Normalised hashes of significant code lines and their line numbers (duplicate detection).
    var dupHashes: [UInt64] = []
    var dupLines: [Int32] = []
    var publicDecls: Int32 = 0
    var documentedDecls: Int32 = 0
    var tests: Int32 = 0
    /// Markdown: words and headings (README substance).
    var words: Int32 = 0
    var headings: Int32 = 0
    /// Coverage reports: covered and coverable lines.
    var coveredLines: Int32 = 0
    var coverableLines: Int32 = 0
    var isBinary: Bool = false
    var suppressions: [InlineSuppression] = []
    /// Markdown that says how to report a vulnerability.
    var statesSecurityPolicy = false
    /// A README with a Contributing section.
    var statesContributing = false
    /// A README that links to hosted documentation (a docs site, Read the Docs, Swift Package Index).
    var linksDocumentation = false
    /// A program's entry point (Swift `@main`, Go `package main`): its target is an executable,
    /// whose public declarations are no library's API.
    var declaresMain = false
    /// Swift: the member names the file's protocols require, and the undocumented public members of
    /// types that declare conformances (`struct X: P`): a member that a protocol of the repository
    /// requires is a witness, documented by the requirement (resolved across files by the sages check).
    var protocolRequirements: [String] = []
    var possibleWitnesses: [PossibleWitness] = []
    /// Test files: the modules they import (`@testable import NIOCore`, `from click import …`), which
    /// pair a module with its tests by what they test rather than by name. Swift source files: the
    /// modules they re-export (`@_exported import X`), tested through the module that re-exports them.
    var imports: [String] = []

    init(language: Language, isTest: Bool) {
        self.language = language
        self.isTest = isTest
    }
}
