import Foundation
import GuardianCore

/// Hard-coded secrets: a byte-level pass for well-known token formats, plus a keyword prefilter
/// and Shannon entropy for assignments of string literals to names like `password` or `api_key`.
extension FileAnalyzer {
    struct SecretFormat: Sendable {
        var prefix: [UInt8]
        var body: @Sendable (UInt8) -> Bool
        var minBody: Int
        var name: String
    }

    static func alnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
    static func upperDigit(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) }
    static func token(_ b: UInt8) -> Bool { alnum(b) || b == 95 || b == 45 }

    static let formats: [SecretFormat] = [
        SecretFormat(prefix: Array("AKIA".utf8), body: upperDigit, minBody: 16, name: "AWS access key id"),
        SecretFormat(prefix: Array("ASIA".utf8), body: upperDigit, minBody: 16, name: "AWS temporary access key id"),
        SecretFormat(prefix: Array("ghp_".utf8), body: alnum, minBody: 36, name: "GitHub personal access token"),
        SecretFormat(prefix: Array("gho_".utf8), body: alnum, minBody: 36, name: "GitHub OAuth token"),
        SecretFormat(prefix: Array("ghs_".utf8), body: alnum, minBody: 36, name: "GitHub app token"),
        SecretFormat(prefix: Array("github_pat_".utf8), body: { alnum($0) || $0 == 95 }, minBody: 60, name: "GitHub fine-grained token"),
        SecretFormat(prefix: Array("glpat-".utf8), body: token, minBody: 20, name: "GitLab personal access token"),
        SecretFormat(prefix: Array("xoxb-".utf8), body: token, minBody: 20, name: "Slack bot token"),
        SecretFormat(prefix: Array("xoxp-".utf8), body: token, minBody: 20, name: "Slack user token"),
        SecretFormat(prefix: Array("AIza".utf8), body: token, minBody: 35, name: "Google API key"),
        SecretFormat(prefix: Array("sk_live_".utf8), body: alnum, minBody: 24, name: "Stripe live secret key"),
        SecretFormat(prefix: Array("-----BEGIN ".utf8), body: { upperDigit($0) || $0 == 32 }, minBody: 11,
                     name: "private key"),
    ]

    /// Well-known token formats anywhere, and passwords in URLs. In fixtures, examples, samples,
    /// demos and docs nothing is reported (keys there are samples); in tests only token formats
    /// other than private keys, at low severity (a test key is a sample unless it is live).
    mutating func scanSecretPatterns() {
        guard !facts.isBinary, facts.skipReason == nil || facts.language == .text else { return }
        if PathRules.isSampleOrExample(path) { return }
        // a URL with a password in prose (a changelog, a README) illustrates a feature
        if !isTest && facts.language != .markdown { urlCredentials() }
        let n = buf.count
        var k = 0
        var lastLine: Int32 = -1
        guard let start = buf.baseAddress else { return }
        let base = UnsafeRawPointer(start)
        @inline(__always) func has(_ table: UnsafeBufferPointer<UInt64>, pairAt k: Int) -> Bool {
            // the two bytes at k, first byte low: one table lookup, no branch to mispredict
            let pair = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: k, as: UInt16.self)))
            return table[pair >> 6] & (1 << UInt64(pair & 63)) != 0
        }
        FileAnalyzer.startPairs.withUnsafeBufferPointer { pairs in FileAnalyzer.innerPairs.withUnsafeBufferPointer { inner in
            while k + 1 < n {
                // three positions at a time, while the pair at k + 2 is no prefix's bytes 0–1, 1–2
                // or 2–3: then no prefix (four bytes or more) starts at k, k + 1 or k + 2
                if k + 3 < n && !has(inner, pairAt: k + 2) { k += 3; continue }
                guard has(pairs, pairAt: k) else { k += 1; continue }
                if buf[k] == 45 {
                    // a run of dashes (a ruler in a comment) holds `-----BEGIN ` only at its last five
                    var j = k + 2
                    while j < n && buf[j] == 45 { j += 1 }
                    if j - k >= 5, let end = secretFormat(at: j - 5, lastLine: &lastLine) { k = end + 1 } else { k = j }
                    continue
                }
                if k > 0 && FileAnalyzer.alnum(buf[k - 1]) { k += 1; continue }
                if let end = secretFormat(at: k, lastLine: &lastLine) { k = end }
                k += 1
            }
        } }
    }

    /// One bit for each pair of bytes that starts a format's prefix (bit `first | second << 8`):
    /// the only places worth matching.
    static let startPairs = pairTable(offsets: 0...0)
    /// The pairs at offsets 0, 1 and 2 of every prefix (each is four bytes or more).
    static let innerPairs = pairTable(offsets: 0...2)

    static func pairTable(offsets: ClosedRange<Int>) -> [UInt64] {
        var bits = [UInt64](repeating: 0, count: 1 << 10)
        for f in formats {
            precondition(f.prefix.count >= 4, "the scan strides three bytes over prefixes of four or more")
            for o in offsets {
                let pair = Int(f.prefix[o]) | Int(f.prefix[o + 1]) << 8
                bits[pair >> 6] |= 1 << UInt64(pair & 63)
            }
        }
        return bits
    }

    /// A token format that starts at `k`, reported (once per line) unless the line says it is an
    /// example: the end of the match, or nil when no format matches there.
    mutating func secretFormat(at k: Int, lastLine: inout Int32) -> Int? {
        for f in FileAnalyzer.formats where f.prefix[0] == buf[k] && k + f.prefix.count + f.minBody <= buf.count {
            guard let m = match(f, at: k) else { continue }
            if f.name == "private key" {
                let s = string(k..<m)
                guard s.hasSuffix("PRIVATE KEY") || s.contains("PRIVATE KEY") else { continue }
                if isTest { return m } // a test's key pair
            }
            let line = lineOf(offset: k)
            let text = lineText(line)
            if text.contains("EXAMPLE") || text.contains("example") { continue }
            if line != lastLine {
                lastLine = line
                add("strict/hardcoded-secret", isTest ? .low : .critical, line: line,
                    column: Int32(k) - lineStarts[Int(line) - 1] + 1,
                    isTest ? "possible \(f.name) in test code (revoke it if it is live)" : "possible \(f.name) in source")
            }
            return m
        }
        return nil
    }

    /// The end of `f`'s prefix and body at `k`, when the body is long enough.
    func match(_ f: SecretFormat, at k: Int) -> Int? {
        for j in 1..<f.prefix.count where buf[k + j] != f.prefix[j] { return nil }
        var m = k + f.prefix.count
        while m < buf.count && f.body(buf[m]) { m += 1 }
        return m - (k + f.prefix.count) >= f.minBody ? m : nil
    }

    /// `scheme://user:password@host` with a password that is not a placeholder (`${DB_PASS}`,
    /// `<password>`, `****`): a credential committed in a URL, as `.env` files and configs hold them.
    mutating func urlCredentials() {
        let n = buf.count
        var k = 0
        while k + 3 < n {
            // to each colon (most of a file holds none) that has two bytes after it
            guard let colon = buf.index(of: B.colon, from: k, end: n - 3) else { return }
            k = colon
            guard buf[k + 1] == B.slash, buf[k + 2] == B.slash else { k += 1; continue }
            var s = k
            while s > 0 && (FileAnalyzer.alnum(buf[s - 1]) || buf[s - 1] == B.plus || buf[s - 1] == B.minus || buf[s - 1] == B.dot) { s -= 1 }
            var u = k + 3
            func stop(_ b: UInt8) -> Bool { B.isSpace(b) || b == B.nl || b == B.slash || b == B.quote || b == B.apos || b == B.lt || b == B.gt }
            while u < n && !stop(buf[u]) && buf[u] != B.colon && buf[u] != 64 { u += 1 }
            guard s < k, u < n, buf[u] == B.colon, u > k + 3 else { k += 3; continue }
            var p = u + 1
            while p < n && !stop(buf[p]) && buf[p] != 64 { p += 1 }
            guard p < n, buf[p] == 64, p - (u + 1) >= 3, p + 1 < n, FileAnalyzer.alnum(buf[p + 1]) else { k = u; continue }
            let password = string(u + 1..<p).lowercased()
            let placeholder = FileAnalyzer.placeholders.contains { password.contains($0) } || password.allSatisfy { $0 == "*" || $0 == "x" }
            let line = lineOf(offset: k)
            if !placeholder && !lineText(line).lowercased().contains("example") {
                add("strict/hardcoded-secret", .high, line: line, column: Int32(s) - lineStarts[Int(line) - 1] + 1,
                    "password in a \(string(s..<k)) URL")
            }
            k = p
        }
    }

    static let secretWords: [[UInt8]] = ["password", "passwd", "secret", "token", "apikey", "api_key", "api-key",
                                         "access_key", "accesskey", "private_key", "privatekey", "credential",
                                         "auth_key", "authkey"].map { Array($0.utf8) }
    static let placeholders = ["example", "xxxx", "changeme", "change_me", "your", "<", "${", "{{", "%s", "dummy",
                               "fake", "sample", "placeholder", "redacted", "test", "****", "env", "\\(", "$("]

    static func entropy<S: Collection>(_ s: S) -> Double where S.Element == UInt8 {
        var counts = [Int](repeating: 0, count: 256)
        for b in s { counts[Int(b)] += 1 }
        let n = Double(s.count)
        var e = 0.0
        for c in counts where c > 0 { let p = Double(c) / n; e -= p * log2(p) }
        return e
    }

    func looksLikeSecret(_ literal: Range<Int>) -> Bool {
        guard literal.count >= 16, literal.count <= 200 else { return false }
        let bytes = buf[literal]
        if bytes.contains(B.sp) { return false }
        let s = string(literal).lowercased()
        for p in FileAnalyzer.placeholders where s.contains(p) { return false }
        // template parts (`{port}`, `\(host)`) are computed where the string is used: only the
        // literal rest can be a secret
        let rest = FileAnalyzer.withoutTemplates(Array(bytes))
        // a URL's user-info is the URL rule's; a token in its path or query is a secret here
        if let scheme = FileAnalyzer.index(of: Array("://".utf8), in: rest) {
            return FileAnalyzer.carriesToken(rest[(scheme + 3)...])
        }
        return rest.count >= 16 && FileAnalyzer.entropy(rest) >= 3.5
    }

    /// The bytes without template spans: `{identifier}` (f-strings, format strings) and `\(…)`
    /// (Swift interpolation). `${…}` and `{{…}}` are placeholders, refused before this.
    static func withoutTemplates(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], k = 0
        out.reserveCapacity(b.count)
        func isIdent(_ c: UInt8) -> Bool { B.isIdentChar(c) || c == UInt8(ascii: ".") }
        while k < b.count {
            if b[k] == UInt8(ascii: "{"), let close = b[(k + 1)...].firstIndex(of: UInt8(ascii: "}")),
               close > k + 1, b[(k + 1)..<close].allSatisfy(isIdent) {
                k = close + 1
                continue
            }
            if b[k] == UInt8(ascii: "\\"), k + 1 < b.count, b[k + 1] == UInt8(ascii: "("),
               let close = b[(k + 2)...].firstIndex(of: UInt8(ascii: ")")) {
                k = close + 1
                continue
            }
            out.append(b[k])
            k += 1
        }
        return out
    }

    static func index(of needle: [UInt8], in b: [UInt8]) -> Int? {
        guard b.count >= needle.count else { return nil }
        return (0...(b.count - needle.count)).first { b[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// A URL's path or query (after `scheme://host`) holds a token: a segment of 16 or more bytes,
    /// letters and digits mixed, as random as a key. Words and slugs (`secrets-management`) are not.
    static func carriesToken(_ afterScheme: ArraySlice<UInt8>) -> Bool {
        guard let slash = afterScheme.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) else { return false }
        let separators: Set<UInt8> = Set("/?&=#.-_".utf8)
        for segment in afterScheme[slash...].split(whereSeparator: { separators.contains($0) }) where segment.count >= 16 {
            let letters = segment.contains { ($0 | 0x20) >= 97 && ($0 | 0x20) <= 122 }
            if letters && segment.contains(where: B.isDigit) && entropy(segment) >= 3.5 { return true }
        }
        return false
    }

    /// Code: `name = "literal"` or `name: "literal"` where name contains a secret word.
    mutating func entropySecrets(_ tokens: [Token]) {
        var k = 0
        while k + 2 < tokens.count {
            let t = tokens[k]
            if t.kind == .identifier {
                let op = tokens[k + 1]
                var lit = k + 2
                if op.isPunct(B.colon) && lit + 1 < tokens.count && tokens[lit].kind == .identifier && tokens[lit + 1].isPunct(B.eq) {
                    lit += 2 // `let password: String = "..."`
                }
                if (op.isPunct(B.eq) || op.isPunct(B.colon) || op.isPunct2(B.colon, B.eq)) && lit < tokens.count,
                   tokens[lit].kind == .string, tokens[lit].end - tokens[lit].start >= 18 {
                    let r = tokenRange(t)
                    if FileAnalyzer.secretWords.contains(where: { contains(r, $0) }) {
                        let s = tokens[lit]
                        let inner = Int(s.start) + 1..<Int(s.end) - 1
                        if looksLikeSecret(inner) {
                            add("strict/hardcoded-secret", .critical, line: s.line,
                                column: s.start - lineStarts[Int(s.line) - 1] + 1,
                                "high-entropy string assigned to '\(text(t))'")
                        }
                    }
                }
            }
            k += 1
        }
    }

    /// Config files: `key: value`, `KEY=value`, `"key": "value"`.
    mutating func configSecrets() {
        guard !isTest else { return }
        for (line, r) in lines() where r.count > 18 && r.count < 500 {
            guard FileAnalyzer.secretWords.contains(where: { contains(r, $0) }) else { continue }
            var sep = -1
            for k in r where buf[k] == B.eq || buf[k] == B.colon { sep = k; break }
            guard sep > r.lowerBound else { continue }
            let key = sep == r.lowerBound ? r.lowerBound..<sep : r.lowerBound..<sep
            guard FileAnalyzer.secretWords.contains(where: { contains(key, $0) }) else { continue }
            var a = sep + 1, b = r.upperBound
            while a < b && (B.isSpace(buf[a]) || buf[a] == B.quote || buf[a] == B.apos) { a += 1 }
            while b > a && (B.isSpace(buf[b - 1]) || buf[b - 1] == B.quote || buf[b - 1] == B.apos || buf[b - 1] == B.comma) { b -= 1 }
            if looksLikeSecret(a..<b) {
                add("strict/hardcoded-secret", .critical, line: line, "high-entropy value for '\(string(key).trimmed)'")
            }
        }
    }
}
