import GuardianCore

/// The string forms that a prefix or a `#` opens: Python, Rust, C++, C# and Swift raw strings.
extension Lexer {
    /// Python (r, b, f, u and pairs), Rust (r#", b", br"), C++ (R", u8R", L"), C# ($", $@") prefixes.
    mutating func stringPrefix(start: Int) -> Bool {
        let len = i - start
        guard len <= 3, i < buf.count else { return false }
        let next = buf[i]
        if d.pythonPrefixes && (next == B.quote || next == B.apos) {
            for k in start..<i {
                switch buf[k] | 0x20 {
                case 114, 98, 102, 117: continue // r b f u
                default: return false
                }
            }
            if next == B.quote { doubleQuoted() } else { singleQuoted() }
            return true
        }
        if d.rustRawStrings {
            let word = Array(buf[start..<i])
            if (word == [114] || word == [98, 114]) && (next == B.hash || next == B.quote) {
                rustRawString(); return true
            }
            if word == [98] && next == B.quote { doubleQuoted(); return true }
            if word == [98] && next == B.apos { singleQuoted(); return true }
        }
        if d.cppRawStrings && next == B.quote {
            let word = Array(buf[start..<i])
            if word.last == 82 && word.count <= 3 { cppRawString(); return true } // R"delim(
            if word == [76] || word == [117] || word == [85] || word == [117, 56] { doubleQuoted(); return true }
        }
        return false
    }

    func swiftCompilerDirectiveAhead() -> Bool {
        guard at(i + 1) == 105 || at(i + 1) == 101 else { return false } // i, e
        var k = i + 1
        while k < buf.count && B.isIdentChar(buf[k]) { k += 1 }
        let word = Array(buf[(i + 1)..<k])
        return word == Array("if".utf8) || word == Array("elseif".utf8) || word == Array("else".utf8)
            || word == Array("endif".utf8)
    }

    func rawSwiftAhead() -> Bool {
        var k = i
        while k < buf.count && buf[k] == B.hash { k += 1 }
        return k < buf.count && buf[k] == B.quote
    }

    /// `#"…"#`, `##"""…"""##`: no escapes except `\#(`; ends at the quote followed by the same number of #.
    mutating func swiftRawString() {
        let n = buf.count
        var hashes = 0
        while i < n && buf[i] == B.hash { hashes += 1; i += 1 }
        let triple = at(i) == B.quote && at(i + 1) == B.quote && at(i + 2) == B.quote
        i += triple ? 3 : 1
        while i < n {
            let c = buf[i]
            if c == B.nl {
                if !triple { return }
                newline(at: i); i += 1; continue
            }
            if c == B.quote && (!triple || (at(i + 1) == B.quote && at(i + 2) == B.quote)) {
                var k = i + (triple ? 3 : 1)
                var h = 0
                while k < n && buf[k] == B.hash && h < hashes { h += 1; k += 1 }
                if h == hashes { i = k; return }
            }
            i += 1
        }
    }

    mutating func rustRawString() {
        let n = buf.count
        var hashes = 0
        while i < n && buf[i] == B.hash { hashes += 1; i += 1 }
        guard i < n && buf[i] == B.quote else { return }
        i += 1
        while i < n {
            let c = buf[i]
            if c == B.nl { newline(at: i); i += 1; continue }
            if c == B.quote {
                var k = i + 1, h = 0
                while k < n && buf[k] == B.hash && h < hashes { h += 1; k += 1 }
                if h == hashes { i = k; return }
            }
            i += 1
        }
    }

    /// `R"delim( … )delim"`.
    mutating func cppRawString() {
        let n = buf.count
        i += 1
        let ds = i
        while i < n && buf[i] != B.lparen && buf[i] != B.nl && i - ds < 16 { i += 1 }
        guard i < n && buf[i] == B.lparen else { return }
        let delim = Array(buf[ds..<i])
        i += 1
        while i < n {
            let c = buf[i]
            if c == B.nl { newline(at: i); i += 1; continue }
            if c == B.rparen {
                var ok = true
                for (k, x) in delim.enumerated() where at(i + 1 + k) != x { ok = false; break }
                if ok && at(i + 1 + delim.count) == B.quote { i += 2 + delim.count; return }
            }
            i += 1
        }
    }

    /// C# `@"…"` with `""` as the escaped quote.
    mutating func verbatimString() {
        let n = buf.count
        i += 1
        while i < n {
            let c = buf[i]
            if c == B.nl { newline(at: i); i += 1; continue }
            if c == B.quote {
                if at(i + 1) == B.quote { i += 2; continue }
                i += 1; return
            }
            i += 1
        }
    }
}
