/// Canonical JSON re-indented the way `JSONEncoder` with `.prettyPrinted` writes it: two spaces
/// per level, `"key" : value`, one element per line, and an empty container as `[`, a blank line,
/// then `]` at the container's indent. Re-indenting the canonical bytes gives `guardian audit
/// --format json` the encoder's output without its cost (a test compares the two on real reports).
public enum PrettyJSON {
    /// `canonical` must be compact JSON (no white space outside strings), as `CanonicalWriter` writes.
    public static func indent(_ canonical: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(canonical.count * 2)
        var depth = 0
        var i = 0
        let n = canonical.count
        func newline(_ out: inout [UInt8], _ depth: Int) {
            out.append(10)
            for _ in 0..<(2 * depth) { out.append(32) }
        }
        while i < n {
            let b = canonical[i]
            switch b {
            case 34: // a string, copied as it is up to its closing quote
                let start = i
                i += 1
                while i < n, canonical[i] != 34 { i += canonical[i] == 92 ? 2 : 1 }
                i = min(i + 1, n)
                out.append(contentsOf: canonical[start..<i])
                continue
            case 123, 91: // { [
                out.append(b)
                depth += 1
                if i + 1 < n, canonical[i + 1] == (b == 123 ? 125 : 93) { // empty: a blank line inside
                    out.append(10)
                    newline(&out, depth - 1)
                    out.append(canonical[i + 1])
                    depth -= 1
                    i += 2
                    continue
                }
                newline(&out, depth)
            case 125, 93: // } ]
                depth -= 1
                newline(&out, depth)
                out.append(b)
            case 44: // ,
                out.append(b)
                newline(&out, depth)
            case 58: // :
                out += [32, 58, 32]
            default:
                out.append(b)
            }
            i += 1
        }
        return out
    }
}
