import Foundation
import GuardianCore

/// Limits applied before analysis. Part of the cache key.
public struct AnalysisLimits: Sendable, Hashable {
    public var maxFileBytes = 1_000_000
    public var maxLineBytes = 5_000
    public init() {}
    var cacheTag: String { "max=\(maxFileBytes);line=\(maxLineBytes)" }
}

/// Analyses one file's bytes into `FileFacts`. Pure: no I/O, no clock.
struct FileAnalyzer {
    static let version = "guardian-analyzer/10"

    let path: String
    let buf: UnsafeBufferPointer<UInt8>
    let isTest: Bool
    let limits: AnalysisLimits
    let v = Vocabulary.shared
    var facts: FileFacts
    var lineStarts: [Int32] = [0]
    /// A test file's functions, judged together once all are read (FileAnalyzer+Code.swift).
    var testBodies: [TestBody] = []
    /// Per line (1-based): whether it holds code, for functions' code lengths.
    var codeLineFlags: [Bool] = []

    init(path: String, buffer: UnsafeBufferPointer<UInt8>, isTest: Bool, limits: AnalysisLimits) {
        self.path = path
        self.buf = buffer
        self.isTest = isTest
        self.limits = limits
        facts = FileFacts(language: Language.detect(path: path), isTest: isTest)
        facts.bytes = Int64(buffer.count)
    }

    static func analyze(path: String, buffer: UnsafeBufferPointer<UInt8>, isTest: Bool, limits: AnalysisLimits) -> FileFacts {
        var a = FileAnalyzer(path: path, buffer: buffer, isTest: isTest, limits: limits)
        a.run()
        return a.facts
    }

    mutating func run() {
        let n = buf.count
        let probe = min(n, 8000)
        for k in 0..<probe where buf[k] == 0 {
            facts.isBinary = true
            facts.skipReason = "binary"
            return
        }
        if n > limits.maxFileBytes {
            facts.skipReason = "larger than \(limits.maxFileBytes) bytes"
            return
        }
        computeLines()
        let lang = facts.language
        if lang.isCode || lang.isScript {
            var longest: Int32 = 0
            for k in 0..<lineStarts.count {
                let end = k + 1 < lineStarts.count ? lineStarts[k + 1] : Int32(n)
                longest = max(longest, end - lineStarts[k])
            }
            if Int(longest) > limits.maxLineBytes {
                facts.skipReason = "minified or generated (a line of \(longest) bytes)"
                return
            }
            if let why = PathRules.vendoredOrGenerated(path) {
                facts.skipReason = why
                return
            }
            if hasGeneratedHeader() {
                facts.skipReason = "generated (header says so)"
                return
            }
        }
        if lang.isCode {
            analyzeCode()
        } else if lang.isScript {
            analyzeScript()
        } else {
            analyzeText()
        }
        scanSecretPatterns()
        scanSuppressions()
    }

    static let ignoreMarker = Array("guardian:ignore".utf8)
    static let ignoreMarkerColon = ignoreMarker.firstIndex(of: B.colon)!

    /// `guardian:ignore` comments, in any language's comment syntax: the marker, then rule ids
    /// (separated by commas or spaces), then optionally `--` and a reason. Comment closers
    /// (`*/`, `-->`) after it are not part of the reason.
    mutating func scanSuppressions() {
        let marker = Self.ignoreMarker
        guard holdsIgnoreMarker() else { return }
        for i in 0..<lineStarts.count {
            let line = Int32(i + 1)
            let r = lineRange(line)
            guard contains(r, marker) else { continue }
            let text = lineText(line)
            guard let at = text.range(of: "guardian:ignore", options: .caseInsensitive) else { continue }
            var rest = String(text[at.upperBound...])
            for closer in ["*/", "-->", "#}", "%>"] {
                if let c = rest.range(of: closer, options: .backwards) { rest = String(rest[..<c.lowerBound]) }
            }
            var reason: String?
            if let dash = rest.range(of: "--") {
                let why = rest[dash.upperBound...].trimmingCharacters(in: .whitespaces)
                reason = why.isEmpty ? nil : String(why.prefix(500))
                rest = String(rest[..<dash.lowerBound])
            }
            // a word that names no rule (a typo) matches nothing: it never widens the suppression to every rule
            let rules = rest.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init)
            facts.suppressions.append(InlineSuppression(line: line, rules: rules, reason: reason))
        }
    }

    /// Whether the file holds `guardian:ignore`, in any case. `memchr` finds each `:` and only
    /// those are compared: a byte-by-byte search cost as much as lexing the file.
    func holdsIgnoreMarker() -> Bool {
        let marker = Self.ignoreMarker, colon = Self.ignoreMarkerColon
        let last = buf.count - (marker.count - colon) // the last place its colon can be
        var k = colon
        while k <= last, let p = buf.index(of: B.colon, from: k, end: last + 1) {
            var j = 0
            while j < marker.count && lower(buf[p - colon + j]) == marker[j] { j += 1 }
            if j == marker.count { return true }
            k = p + 1
        }
        return false
    }

    mutating func computeLines() {
        lineStarts.reserveCapacity(buf.count / 30)
        // from line to line (`index(of:)`: lines are tens of bytes, compared many at once)
        var k = 0
        while let nl = buf.index(of: B.nl, from: k) {
            k = nl + 1
            lineStarts.append(Int32(k))
        }
        // a trailing newline does not start a new line
        if lineStarts.count > 1 && lineStarts.last! == Int32(buf.count) { lineStarts.removeLast() }
        facts.lines = buf.isEmpty ? 0 : Int32(lineStarts.count)
    }

    func hasGeneratedHeader() -> Bool {
        let head = min(buf.count, 600)
        guard head > 12 else { return false }
        return FileAnalyzer.generatedMarkers.contains { m in
            guard head >= m.count else { return false }
            var k = 0
            while k <= head - m.count {
                if buf[k] == m[0] {
                    var j = 1
                    while j < m.count && buf[k + j] == m[j] { j += 1 }
                    if j == m.count { return true }
                }
                k += 1
            }
            return false
        }
    }

    /// Case-sensitive: "do not edit" in prose is not a generator's header.
    static let generatedMarkers: [[UInt8]] = ["@generated", "DO NOT EDIT", "Code generated by", "AUTO-GENERATED", "autogenerated by"]
        .map { Array($0.utf8) }

    // MARK: - helpers

    func lineRange(_ line: Int32) -> Range<Int> {
        let idx = Int(line) - 1
        guard idx >= 0 && idx < lineStarts.count else { return 0..<0 }
        let s = Int(lineStarts[idx])
        var e = idx + 1 < lineStarts.count ? Int(lineStarts[idx + 1]) : buf.count
        if e > s && buf[e - 1] == B.nl { e -= 1 }
        return s..<max(s, e)
    }

    func lineText(_ line: Int32) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buf[lineRange(line)]), as: UTF8.self)
    }

    func text(_ t: Token) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buf[Int(t.start)..<Int(t.end)]), as: UTF8.self)
    }

    func lineOf(offset: Int) -> Int32 {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if Int(lineStarts[mid]) <= offset { lo = mid } else { hi = mid - 1 }
        }
        return Int32(lo + 1)
    }

    mutating func add(_ ruleId: String, _ severity: Severity, line: Int32, column: Int32 = 0, _ message: String,
                      key: String? = nil, fixOriginal: String? = nil, fixReplacement: String? = nil) {
        let content: UInt64
        if let key {
            content = Fingerprint.contentHash(ruleId: ruleId, normalizedLine: StableHash.of(key))
        } else {
            let r = lineRange(line)
            content = Fingerprint.contentHash(ruleId: ruleId,
                                              normalizedLine: Fingerprint.normalizedLineHash(buf[r]))
        }
        facts.findings.append(RawFinding(ruleId: ruleId, severity: severity, line: line, column: column,
                                         contentHash: content, message: message, fixOriginal: fixOriginal,
                                         fixReplacement: fixReplacement))
    }

    @inline(__always) func lower(_ b: UInt8) -> UInt8 { (b >= 65 && b <= 90) ? b | 0x20 : b }

    /// Case-insensitive substring test on a byte range.
    func contains(_ range: Range<Int>, _ needle: [UInt8]) -> Bool {
        guard range.count >= needle.count, let first = needle.first else { return false }
        var k = range.lowerBound
        let last = range.upperBound - needle.count
        while k <= last {
            if lower(buf[k]) == first {
                var ok = true
                for j in 1..<needle.count where lower(buf[k + j]) != needle[j] { ok = false; break }
                if ok { return true }
            }
            k += 1
        }
        return false
    }

    func tokenRange(_ t: Token) -> Range<Int> { Int(t.start)..<Int(t.end) }

    /// A name written plainly: a backtick-quoted one (`` `if` ``) hashes like the word but is a name.
    func isPlain(_ t: Token) -> Bool { buf[Int(t.start)] != B.backtick }

    func startsWith(_ t: Token, _ prefix: [UInt8], caseInsensitive: Bool = true) -> Bool {
        let len = Int(t.end - t.start)
        guard len >= prefix.count else { return false }
        for j in 0..<prefix.count {
            let b = buf[Int(t.start) + j]
            if (caseInsensitive ? lower(b) : b) != prefix[j] { return false }
        }
        return true
    }

    static let notImplementedWords: [[UInt8]] = ["not implemented", "unimplemented", "not yet implemented", "todo",
                                                 "implement me", "not supported yet", "stub"].map { Array($0.utf8) }

    func saysNotImplemented(_ t: Token) -> Bool {
        let r = tokenRange(t)
        return FileAnalyzer.notImplementedWords.contains { contains(r, $0) }
    }
}

extension Array where Element == UInt8 {
    init(_ s: String) { self = Array(s.utf8) }
}
