/// Path patterns as `.gitignore` and `.gitattributes` write them, for `exclude:` and `vendored:`:
/// `*` matches within one path component, `**` across components, `?` one character; a pattern
/// with no `/` (other than a trailing one) matches a component at any depth, one with a `/` is
/// anchored at the repository root; a trailing `/` matches a directory and everything under it.
public struct Glob: Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    private let parts: [[UInt8]]
    /// `parts[i]` is `**`.
    private let anyDepth: [Bool]
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
        anyDepth = parts.map { $0 == [42, 42] }
    }

    public var description: String { pattern }

    /// A path split into its components once, to be matched against many patterns.
    public struct Path {
        let bytes: [UInt8]
        let components: [Range<Int>]

        public init(_ path: String) {
            bytes = Array(path.utf8)
            components = LowerPath.components(bytes)
        }
    }

    /// Whether `path` (relative to the repository root, `/`-separated) matches.
    public func matches(_ path: String) -> Bool { matches(Path(path)) }

    public func matches(_ path: Path) -> Bool {
        guard !parts.isEmpty else { return false }
        return path.bytes.withUnsafeBufferPointer { b in
            if anchored { return match(0, path.components[...], b) }
            // unanchored: the pattern's single component matches any component; a directory pattern (or
            // a match on a directory component) covers everything under it
            for (i, c) in path.components.enumerated() where Self.component(parts[0][...], b[c]) {
                if i == path.components.count - 1 { return !directory }
                return true
            }
            return false
        }
    }

    /// Anchored match of pattern components from `p` against path components; a pattern that
    /// matches a leading run of the path's directories matches everything under them.
    private func match(_ p: Int, _ c: ArraySlice<Range<Int>>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard p < parts.count else { return true }
        if anyDepth[p] {
            var k = c.startIndex
            while true {
                if match(p + 1, c[k...], b) { return true }
                if k == c.endIndex { return false }
                k += 1
            }
        }
        guard let head = c.first, Self.component(parts[p][...], b[head]) else { return false }
        return match(p + 1, c.dropFirst(), b)
    }

    /// `*` and `?` within one component.
    static func component(_ p: ArraySlice<UInt8>, _ s: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
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
