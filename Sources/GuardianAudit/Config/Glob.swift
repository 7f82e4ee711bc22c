/// Path patterns as `.gitignore` and `.gitattributes` write them, for `exclude:` and `vendored:`:
/// `*` matches within one path component, `**` across components, `?` one character; a pattern
/// with no `/` (other than a trailing one) matches a component at any depth, one with a `/` is
/// anchored at the repository root; a trailing `/` matches a directory and everything under it.
public struct Glob: Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    private let parts: [[UInt8]]
    private let anchored: Bool
    private let directory: Bool

    public init(_ pattern: String) {
        self.pattern = pattern
        var p = pattern
        directory = p.hasSuffix("/")
        if directory { p.removeLast() }
        if p.hasPrefix("/") { p.removeFirst() }
        anchored = p.contains("/") || pattern.hasPrefix("/")
        parts = p.split(separator: "/", omittingEmptySubsequences: true).map { Array($0.utf8) }
    }

    public var description: String { pattern }

    /// Whether `path` (relative to the repository root, `/`-separated) matches.
    public func matches(_ path: String) -> Bool {
        let comps = path.split(separator: "/", omittingEmptySubsequences: true).map { Array($0.utf8) }
        guard !parts.isEmpty else { return false }
        if anchored { return Self.match(parts[...], comps[...]) }
        // unanchored: the pattern's single component matches any component; a directory pattern (or
        // a match on a directory component) covers everything under it
        for (i, c) in comps.enumerated() where Self.component(parts[0][...], c[...]) {
            if i == comps.count - 1 { return !directory }
            return true
        }
        return false
    }

    /// Anchored match of pattern components against path components; a pattern that matches a
    /// leading run of the path's directories matches everything under them.
    private static func match(_ p: ArraySlice<[UInt8]>, _ c: ArraySlice<[UInt8]>) -> Bool {
        guard let first = p.first else { return true }
        if first == Array("**".utf8) {
            let rest = p.dropFirst()
            var k = c.startIndex
            while true {
                if match(rest, c[k...]) { return true }
                if k == c.endIndex { return false }
                k += 1
            }
        }
        guard let head = c.first, component(first[...], head[...]) else { return false }
        return match(p.dropFirst(), c.dropFirst())
    }

    /// `*` and `?` within one component.
    static func component(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        guard let pc = p.first else { return s.isEmpty }
        if pc == UInt8(ascii: "*") {
            var k = s.startIndex
            while true {
                if component(p.dropFirst(), s[k...]) { return true }
                if k == s.endIndex { return false }
                k += 1
            }
        }
        guard let sc = s.first, pc == UInt8(ascii: "?") || pc == sc else { return false }
        return component(p.dropFirst(), s.dropFirst())
    }
}
