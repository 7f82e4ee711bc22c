/// Result replication between the owners of projects, as pure messages and decisions; the shell
/// (`MeshShell`) carries them over a sealed TCP stream and loads and stores the records.
///
/// Results are immutable and named by a content hash (64 hex digits), so a project's results are a
/// grow-only set and two owners agree exactly when they hold the same ids. Anti-entropy compares the
/// sets of a *scope* (the projects both nodes own) as a hash tree over id prefixes, one hex digit per
/// level, without building it: every node is the XOR and count of the ids under a prefix of a
/// sorted id list.
///
/// - `open(scope, digest)`: the initiator's scope hash and root digest. The responder answers
///   `inSync` when both match its own (an idle round: two frames of a few dozen bytes), `needScope`
///   when it computes another scope (its ring view differs, or the initiator is a former owner
///   handing data off), else `reply` with the 16 children of the root.
/// - `scope(projects)`: the initiator's scope spelled out; the responder uses exactly it.
/// - `descend(expand, leaves, records)`: prefixes whose children the initiator wants, leaves it
///   lists its ids for (a prefix both sides hold few ids under), and records the responder asked
///   for. The responder answers `reply(nodes, records, want)`: the children, the records under the
///   leaves the initiator lacks, and the ids it lacks. The session ends with an empty `descend`.
///
/// Only differing subtrees are walked, so the bytes beyond the missing records themselves are a
/// few hundred per missing record at most.
public enum ResultSync: Sendable, Equatable {
    case open(from: String, scope: UInt64, digest: SetDigest)
    case needScope
    case scope([String])
    case inSync
    case descend(expand: [String], leaves: [Leaf], records: [Record])
    /// `refused`: records of the `descend` this answers that the responder would not store (a bad
    /// signature, an unknown signer, a project it does not know): the initiator then knows the
    /// responder does not hold everything it sent.
    case reply(nodes: [TreeNode], records: [Record], want: [String], refused: Int = 0)
    /// A batch of records pushed to an owner (a new result, or hints handed off).
    case push([Record])
    case pushed(stored: Int, refused: Int)

    /// A signed result on the wire: its project, its time, and the exact envelope bytes (the
    /// receiver derives the id from them and verifies the signature before storing anything).
    /// `signerKey`: the signer's Ed25519 public key (32 bytes) when the sender knows it, or empty.
    /// A result signed outside the mesh (carried in by an air-gap import) can then be verified by
    /// owners that never saw its signer; the sending member vouches for the key, and the envelope's
    /// key id must still name it.
    public struct Record: Sendable, Equatable {
        public var project: String
        public var createdAt: Double
        public var envelope: [UInt8]
        public var signerKey: [UInt8]
        public init(project: String, createdAt: Double, envelope: [UInt8], signerKey: [UInt8] = []) {
            self.project = project; self.createdAt = createdAt; self.envelope = envelope; self.signerKey = signerKey
        }

        /// A record read from outside (a sync message, an air-gap bundle), its fields checked.
        public init(checking project: String, createdAt: Double, envelope: [UInt8], signerKey: [UInt8]) throws {
            guard !project.isEmpty, project.utf8.count <= 256 else { throw MeshError("a project id must be 1–256 bytes") }
            guard createdAt.isFinite else { throw MeshError("a record time must be finite") }
            guard !envelope.isEmpty else { throw MeshError("an empty envelope") }
            guard envelope.count <= maxEnvelope else { throw MeshError("an envelope of \(envelope.count) bytes is over the limit") }
            guard signerKey.isEmpty || signerKey.count == 32 else { throw MeshError("a signer key must be 32 bytes") }
            self.init(project: project, createdAt: createdAt, envelope: envelope, signerKey: signerKey)
        }
    }

    /// The ids one side holds under a prefix.
    public struct Leaf: Sendable, Equatable {
        public var prefix: String
        public var ids: [String]
        public init(prefix: String, ids: [String]) { self.prefix = prefix; self.ids = ids }
    }

    /// A subtree: its prefix and the digest of the ids under it.
    public struct TreeNode: Sendable, Equatable {
        public var prefix: String
        public var digest: SetDigest
        public init(prefix: String, digest: SetDigest) { self.prefix = prefix; self.digest = digest }
    }

    /// Largest envelope carried (a full audit of a big repository is a few hundred KB).
    public static let maxEnvelope = 8 << 20
    /// Largest number of ids, projects, prefixes or records in one message.
    public static let maxCount = 1 << 20
    /// Ids are BLAKE2b-256 in hex.
    public static let idLength = 64
    static let hexDigits = Array("0123456789abcdef")

    /// The hash that names a scope (a sorted list of project ids), so that two nodes can tell with
    /// eight bytes whether they compare the same projects.
    public static func scopeHash(_ projects: [String]) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for p in projects.sorted() { h = MeshHash.mix(h ^ MeshHash.of(p)) }
        return h
    }

    public static func valid(id: String) -> Bool {
        id.utf8.count == idLength && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    public static func valid(prefix: String) -> Bool {
        prefix.utf8.count < idLength && prefix.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    // MARK: wire

    public func encode() -> [UInt8] {
        var w = Wire.Writer()
        switch self {
        case .open(let from, let s, let d): w.byte(1); w.string(from); w.uint(s); Self.write(d, &w)
        case .needScope: w.byte(2)
        case .scope(let ps): w.byte(3); Self.write(ps, &w)
        case .inSync: w.byte(4)
        case .descend(let expand, let leaves, let records):
            w.byte(5); Self.write(expand, &w)
            w.uint(UInt64(leaves.count)); for l in leaves { w.string(l.prefix); Self.write(l.ids, &w) }
            Self.write(records, &w)
        case .reply(let nodes, let records, let want, let refused):
            w.byte(6)
            w.uint(UInt64(nodes.count)); for n in nodes { w.string(n.prefix); Self.write(n.digest, &w) }
            Self.write(records, &w); Self.write(want, &w); w.uint(UInt64(refused))
        case .push(let records): w.byte(7); Self.write(records, &w)
        case .pushed(let s, let r): w.byte(8); w.uint(UInt64(s)); w.uint(UInt64(r))
        }
        return w.bytes
    }

    /// Decodes a message. Anything malformed is an error, never a crash: truncated or trailing bytes,
    /// counts over the limits, ids that are not 64 hex digits, prefixes that are not hex or are as
    /// long as an id, leaves whose ids lie outside their prefix, unknown kinds.
    public static func decode(_ bytes: [UInt8]) throws -> ResultSync { try decode(bytes, 0..<bytes.count) }

    /// Decodes the message that occupies `range` of `bytes` (one inside a larger frame).
    public static func decode(_ bytes: [UInt8], _ range: Range<Int>) throws -> ResultSync {
        var r = Wire.Reader(bytes, range)
        let m: ResultSync
        switch try r.byte() {
        case 1:
            let from = try r.string()
            guard !from.isEmpty, from.utf8.count <= 256 else { throw MeshError("a member name must be 1–256 bytes") }
            m = .open(from: from, scope: try r.uint(), digest: try readDigest(&r))
        case 2: m = .needScope
        case 3: m = .scope(try readStrings(&r))
        case 4: m = .inSync
        case 5:
            let expand = try readPrefixes(&r)
            let leaves = try (0..<(try r.count(max: maxCount))).map { _ in
                let prefix = try readPrefix(&r)
                let ids = try readIDs(&r)
                guard ids.allSatisfy({ $0.hasPrefix(prefix) }) else { throw MeshError("a leaf lists an id outside its prefix") }
                return Leaf(prefix: prefix, ids: ids)
            }
            m = .descend(expand: expand, leaves: leaves, records: try readRecords(&r))
        case 6:
            let nodes = try (0..<(try r.count(max: maxCount))).map { _ in TreeNode(prefix: try readPrefix(&r, child: true), digest: try readDigest(&r)) }
            m = .reply(nodes: nodes, records: try readRecords(&r), want: try readIDs(&r), refused: Int(clamping: try r.uint()))
        case 7: m = .push(try readRecords(&r))
        case 8: m = .pushed(stored: Int(clamping: try r.uint()), refused: Int(clamping: try r.uint()))
        case let t: throw MeshError("unknown result sync message \(t)")
        }
        try r.end()
        return m
    }

    static func write(_ d: SetDigest, _ w: inout Wire.Writer) { w.uint(d.count); w.uint(d.xor) }
    static func write(_ ss: [String], _ w: inout Wire.Writer) { w.uint(UInt64(ss.count)); for s in ss { w.string(s) } }
    static func write(_ rs: [Record], _ w: inout Wire.Writer) {
        w.uint(UInt64(rs.count))
        for r in rs { w.string(r.project); w.uint(r.createdAt.bitPattern); w.blob(r.envelope); w.blob(r.signerKey) }
    }

    static func readDigest(_ r: inout Wire.Reader) throws -> SetDigest { SetDigest(count: try r.uint(), xor: try r.uint()) }

    static func readStrings(_ r: inout Wire.Reader) throws -> [String] {
        try (0..<(try r.count(max: maxCount))).map { _ in
            let s = try r.string()
            guard !s.isEmpty, s.utf8.count <= 256 else { throw MeshError("a project id must be 1–256 bytes") }
            return s
        }
    }

    static func readIDs(_ r: inout Wire.Reader) throws -> [String] {
        try (0..<(try r.count(max: maxCount))).map { _ in
            let id = try r.string()
            guard valid(id: id) else { throw MeshError("a result id must be 64 lowercase hex digits") }
            return id
        }
    }

    /// A prefix to expand or list; a child prefix (in a reply) is at least one digit long.
    static func readPrefix(_ r: inout Wire.Reader, child: Bool = false) throws -> String {
        let p = try r.string()
        guard valid(prefix: p), !child || !p.isEmpty else { throw MeshError("a prefix must be hex and shorter than an id") }
        return p
    }

    static func readPrefixes(_ r: inout Wire.Reader) throws -> [String] { try (0..<(try r.count(max: maxCount))).map { _ in try readPrefix(&r) } }

    static func readRecords(_ r: inout Wire.Reader) throws -> [Record] {
        try (0..<(try r.count(max: maxCount))).map { _ in
            let project = try r.string(), time = Double(bitPattern: try r.uint())
            let envelope = try r.blob(max: maxEnvelope), key = try r.blob(max: 32)
            return try Record(checking: project, createdAt: time, envelope: envelope, signerKey: key)
        }
    }
}

/// The digest of a set of result ids: how many, and the XOR of each id's first 64 bits. Order does
/// not matter and it is kept up to date one id at a time; equal digests mean equal sets except with
/// probability 2⁻⁶⁴ (ids are uniformly distributed hashes).
public struct SetDigest: Sendable, Hashable {
    public var count: UInt64
    public var xor: UInt64
    public init(count: UInt64 = 0, xor: UInt64 = 0) { self.count = count; self.xor = xor }

    public mutating func add(_ id: String) { count &+= 1; xor ^= Self.bits(id) }
    public mutating func remove(_ id: String) { count &-= 1; xor ^= Self.bits(id) }
    public static func ^ (a: SetDigest, b: SetDigest) -> SetDigest { SetDigest(count: a.count &+ b.count, xor: a.xor ^ b.xor) }

    /// The first 16 hex digits of an id as a number.
    static func bits(_ id: String) -> UInt64 {
        var v: UInt64 = 0
        for c in id.utf8.prefix(16) {
            let d: UInt8 = c <= 57 ? c &- 48 : (c | 0x20) &- 87
            v = v << 4 | UInt64(d & 0xF)
        }
        return v
    }
}

/// A sorted set of result ids and the hash tree over their prefixes.
public struct IDSet: Sendable {
    public private(set) var ids: [String]

    public init<S: Sequence>(_ ids: S) where S.Element == String { self.ids = Array(Set(ids)).sorted() }

    public var digest: SetDigest { digest(under: "") }

    /// The index range of the ids that start with `prefix`.
    public func range(_ prefix: String) -> Range<Int> {
        if prefix.isEmpty { return ids.indices }
        let lo = lowerBound(prefix)
        // the first id that does not start with the prefix: the bound of prefix + "g" (above "f")
        return lo..<lowerBound(prefix + "g")
    }

    private func lowerBound(_ key: String) -> Int {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < key { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    public func digest(under prefix: String) -> SetDigest {
        var d = SetDigest()
        for i in range(prefix) { d.add(ids[i]) }
        return d
    }

    public func ids(under prefix: String) -> [String] { Array(ids[range(prefix)]) }

    /// The 16 children of a prefix (empty ones included: an empty child is how a missing subtree shows).
    public func children(of prefix: String) -> [ResultSync.TreeNode] {
        ResultSync.hexDigits.map { c in
            let p = prefix + String(c)
            return ResultSync.TreeNode(prefix: p, digest: digest(under: p))
        }
    }

    public func contains(_ id: String) -> Bool {
        let i = lowerBound(id)
        return i < ids.count && ids[i] == id
    }

    public mutating func insert(_ id: String) {
        let i = lowerBound(id)
        if i < ids.count && ids[i] == id { return }
        ids.insert(id, at: i)
    }
}

/// The initiator's side of an anti-entropy session: which subtrees to expand and which to settle by
/// listing ids, from the responder's digests. Pure; the shell sends what it decides.
public struct SyncWalk: Sendable {
    public private(set) var mine: IDSet
    /// A subtree whose two sides together hold at most this many ids is settled by listing them.
    public let leafSize: Int
    public private(set) var pendingExpand: [String] = []
    public private(set) var pendingLeaves: [ResultSync.Leaf] = []
    /// How often each prefix was listed with this side unchanged under it: a subtree that still
    /// differs after `maxAttempts` listings without progress (a record one side keeps refusing) is
    /// left for the next round instead of looping.
    private var attempts: [String: (digest: SetDigest, count: Int)] = [:]
    public static let maxAttempts = 3
    /// Subtrees given up on in this session.
    public private(set) var abandoned = 0

    public init(mine: IDSet, leafSize: Int = 32) { self.mine = mine; self.leafSize = max(1, leafSize) }

    /// Takes the responder's subtrees: those that differ are expanded further or listed.
    public mutating func receive(_ nodes: [ResultSync.TreeNode]) {
        for n in nodes {
            let local = mine.digest(under: n.prefix)
            if local == n.digest { continue }
            if Int(local.count &+ n.digest.count) <= leafSize || n.prefix.utf8.count >= ResultSync.idLength - 1 {
                let previous = attempts[n.prefix]
                let count = previous.map { $0.digest == local ? $0.count + 1 : 1 } ?? 1
                attempts[n.prefix] = (local, count)
                if count > Self.maxAttempts { abandoned += 1; continue }
                pendingLeaves.append(ResultSync.Leaf(prefix: n.prefix, ids: mine.ids(under: n.prefix)))
            } else {
                pendingExpand.append(n.prefix)
            }
        }
    }

    /// Records received: they are now held here.
    public mutating func received(_ ids: [String]) { for id in ids { mine.insert(id) } }

    /// What to send next (and forget): the prefixes to expand and the leaves to list.
    public mutating func next(maxExpand: Int = 8192, maxLeaves: Int = 1024) -> (expand: [String], leaves: [ResultSync.Leaf]) {
        let e = Array(pendingExpand.prefix(maxExpand))
        pendingExpand.removeFirst(e.count)
        let l = Array(pendingLeaves.prefix(maxLeaves))
        pendingLeaves.removeFirst(l.count)
        return (e, l)
    }

    public var done: Bool { pendingExpand.isEmpty && pendingLeaves.isEmpty }

    /// The responder's side: children of the expanded prefixes, the ids under each leaf the
    /// initiator lacks (to send) and the ids it listed that the responder lacks (to ask for).
    public static func respond(expand: [String], leaves: [ResultSync.Leaf], mine: IDSet) -> (nodes: [ResultSync.TreeNode], send: [String], want: [String]) {
        var nodes: [ResultSync.TreeNode] = []
        for p in expand { nodes += mine.children(of: p) }
        var send: [String] = [], want: [String] = []
        for l in leaves {
            let theirs = Set(l.ids)
            let local = mine.ids(under: l.prefix)
            send += local.filter { !theirs.contains($0) }
            let localSet = Set(local)
            want += l.ids.filter { !localSet.contains($0) }
        }
        return (nodes, send, want)
    }

    /// The leaves whose records did not all fit in a reply, as subtrees with the responder's digest:
    /// the initiator sees they still differ and lists them again.
    public static func unfinished(leaves: [ResultSync.Leaf], unsent: ArraySlice<String>, mine: IDSet) -> [ResultSync.TreeNode] {
        guard !unsent.isEmpty else { return [] }
        return leaves.filter { l in unsent.contains { $0.hasPrefix(l.prefix) } }.map { ResultSync.TreeNode(prefix: $0.prefix, digest: mine.digest(under: $0.prefix)) }
    }
}
