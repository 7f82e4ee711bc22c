/// The registry's replication protocol, as pure messages and decisions. The shell carries them over
/// sealed TCP streams:
///
/// - **push** (after a local write): `records` → the peer merges them and answers `ack`.
/// - **anti-entropy** (after every push-pull, and on joining): `digest` → `inSync` when the peer's
///   digest is the same (an idle round costs two small frames), else the peer's `stamps`; the caller
///   answers `exchange` with the records the peer lacks or holds older and the keys it wants; the
///   peer merges and answers `records` with those. Two round trips move exactly what differs.
public enum RegistrySync: Sendable, Equatable {
    case records([RegistryRecord])
    case ack(applied: Int, refused: Int)
    case digest(UInt64)
    case inSync
    case stamps([String: HLC])
    case exchange(records: [RegistryRecord], want: [String])

    /// Largest record value carried (a team profile or a project is a few hundred bytes).
    public static let maxValue = 64 << 10
    /// Largest number of records or stamps in one message.
    public static let maxCount = 1 << 20

    /// What differs between two registries, from their stamps: the keys `mine` holds newer (or the
    /// peer lacks), to send, and the keys the peer holds newer (or `mine` lacks), to ask for.
    public static func diff(mine: [String: HLC], theirs: [String: HLC]) -> (send: [String], want: [String]) {
        var send: [String] = [], want: [String] = []
        for (k, s) in mine where theirs[k].map({ $0 < s }) ?? true { send.append(k) }
        for (k, s) in theirs where mine[k].map({ $0 < s }) ?? true { want.append(k) }
        return (send.sorted(), want.sorted())
    }

    /// The digest of a set of stamps: a sum of per-record hashes, so it is independent of order and
    /// can be kept up to date one record at a time. Equal on two nodes exactly when they hold the same
    /// writes (an HLC names one write: wall, counter, node).
    public static func digest<S: Sequence>(_ stamps: S) -> UInt64 where S.Element == (key: String, stamp: HLC) {
        stamps.reduce(0) { $0 &+ entryHash($1.key, $1.stamp) }
    }

    public static func entryHash(_ key: String, _ stamp: HLC) -> UInt64 { MeshHash.of("\(key)|\(stamp)") }

    // MARK: wire

    public func encode() -> [UInt8] {
        var w = Wire.Writer()
        switch self {
        case .records(let rs): w.byte(1); Self.write(rs, &w)
        case .ack(let a, let r): w.byte(2); w.uint(UInt64(a)); w.uint(UInt64(r))
        case .digest(let d): w.byte(3); w.uint(d)
        case .inSync: w.byte(4)
        case .stamps(let s):
            w.byte(5); w.uint(UInt64(s.count))
            for k in s.keys.sorted() { w.string(k); Self.write(s[k]!, &w) }
        case .exchange(let rs, let want):
            w.byte(6); Self.write(rs, &w)
            w.uint(UInt64(want.count)); for k in want { w.string(k) }
        }
        return w.bytes
    }

    /// Decodes a message; anything malformed (truncated, oversized, unknown kinds) is an error.
    public static func decode(_ bytes: [UInt8]) throws -> RegistrySync {
        var r = Wire.Reader(bytes)
        let m: RegistrySync
        switch try r.byte() {
        case 1: m = .records(try readRecords(&r))
        case 2: m = .ack(applied: Int(clamping: try r.uint()), refused: Int(clamping: try r.uint()))
        case 3: m = .digest(try r.uint())
        case 4: m = .inSync
        case 5:
            var s: [String: HLC] = [:]
            for _ in 0..<(try r.count(max: maxCount)) { s[try r.string()] = try readStamp(&r) }
            m = .stamps(s)
        case 6:
            let rs = try readRecords(&r)
            m = .exchange(records: rs, want: try (0..<(try r.count(max: maxCount))).map { _ in try r.string() })
        case let t: throw MeshError("unknown registry message \(t)")
        }
        try r.end()
        return m
    }

    static func write(_ s: HLC, _ w: inout Wire.Writer) { w.uint(UInt64(bitPattern: s.wall)); w.uint(UInt64(s.logical)); w.string(s.node) }

    static func write(_ rs: [RegistryRecord], _ w: inout Wire.Writer) {
        w.uint(UInt64(rs.count))
        for r in rs {
            w.byte(Self.kindCode(r.kind)); w.string(r.id); write(r.stamp, &w)
            if let v = r.value { w.byte(1); w.blob(v) } else { w.byte(0) }
        }
    }

    static func readStamp(_ r: inout Wire.Reader) throws -> HLC {
        let wall = Int64(bitPattern: try r.uint())
        let logical = try r.uint()
        guard logical <= UInt64(UInt32.max) else { throw MeshError("logical clock out of range") }
        return HLC(wall: wall, logical: UInt32(logical), node: try r.string())
    }

    static func readRecords(_ r: inout Wire.Reader) throws -> [RegistryRecord] {
        try (0..<(try r.count(max: maxCount))).map { _ in
            let kind = try Self.kind(try r.byte())
            let id = try r.string()
            guard !id.isEmpty, id.utf8.count <= 256 else { throw MeshError("record id must be 1–256 bytes") }
            let stamp = try readStamp(&r)
            let value: [UInt8]?
            switch try r.byte() {
            case 0: value = nil
            case 1: value = try r.blob(max: maxValue)
            case let t: throw MeshError("unknown value marker \(t)")
            }
            return RegistryRecord(kind: kind, id: id, stamp: stamp, value: value)
        }
    }

    static func kindCode(_ k: RegistryRecord.Kind) -> UInt8 {
        switch k { case .project: 1; case .team: 2; case .token: 3; case .dismissal: 4; case .summary: 5; case .channel: 6 }
    }

    static func kind(_ b: UInt8) throws -> RegistryRecord.Kind {
        switch b {
        case 1: .project
        case 2: .team
        case 3: .token
        case 4: .dismissal
        case 5: .summary
        case 6: .channel
        default: throw MeshError("unknown record kind \(b)")
        }
    }
}
