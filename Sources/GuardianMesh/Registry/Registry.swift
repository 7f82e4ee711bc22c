/// A hybrid logical clock timestamp: wall-clock milliseconds, a logical counter for events within
/// the same millisecond (or when the clock stands behind a timestamp already seen), and the node id
/// that breaks ties, so two timestamps are never equal unless they are the same event.
public struct HLC: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var wall: Int64
    public var logical: UInt32
    public var node: String

    public init(wall: Int64, logical: UInt32, node: String) { self.wall = wall; self.logical = logical; self.node = node }

    public static func < (a: HLC, b: HLC) -> Bool {
        if a.wall != b.wall { return a.wall < b.wall }
        if a.logical != b.logical { return a.logical < b.logical }
        return a.node.utf8.lexicographicallyPrecedes(b.node.utf8)
    }

    public var description: String { "\(wall).\(logical)@\(node)" }
}

/// The clock that issues HLC timestamps on one node. Pure: the wall time is passed in.
public struct HLCClock: Sendable {
    public let node: String
    public private(set) var last: HLC
    /// Timestamps further than this ahead of the local wall clock are refused, not followed.
    public var maxDrift: Int64

    public init(node: String, maxDrift: Int64 = 60_000) {
        self.node = node
        self.maxDrift = maxDrift
        last = HLC(wall: 0, logical: 0, node: node)
    }

    /// A timestamp for a local write.
    public mutating func now(wall: Int64) -> HLC {
        if wall > last.wall { last = HLC(wall: wall, logical: 0, node: node) } else { last = HLC(wall: last.wall, logical: last.logical + 1, node: node) }
        return last
    }

    /// Starts from a timestamp this node stored before (at restart), whatever the wall clock says.
    public mutating func restore(_ stored: HLC) {
        if last < HLC(wall: stored.wall, logical: stored.logical, node: node) { last = HLC(wall: stored.wall, logical: stored.logical, node: node) }
    }

    /// Folds in a timestamp received from another node; false (and no change) when it is too far in
    /// the future to believe.
    public mutating func observe(_ remote: HLC, wall: Int64) -> Bool {
        guard remote.wall <= wall + maxDrift else { return false }
        let w = max(wall, last.wall, remote.wall)
        var l: UInt32 = 0
        if w == last.wall && w == remote.wall { l = max(last.logical, remote.logical) + 1 } else if w == last.wall { l = last.logical + 1 } else if w == remote.wall { l = remote.logical + 1 }
        last = HLC(wall: w, logical: l, node: node)
        return true
    }
}

/// One replicated registry record (a project, team or token): its key, the HLC of the write that
/// produced it, and its value, or nil for a tombstone (a delete that must win over older writes).
public struct RegistryRecord: Sendable, Hashable, Codable {
    /// `dismissal`: a finding of a project dismissed by its fingerprint (applied by every owner's audits).
    /// `summary`: a project's latest result as every node's fleet view shows it (health, checks,
    /// trend), written by the node that audited; a view, never a source of truth (the signed result is).
    /// `channel`: a team's alert channel (id `TEAM.NAME`), its URL and secret sealed at rest on every node.
    public enum Kind: String, Sendable, Codable { case project, team, token, dismissal, summary, channel }
    public var kind: Kind
    public var id: String
    public var stamp: HLC
    /// The record's JSON; nil is a tombstone.
    public var value: [UInt8]?

    public init(kind: Kind, id: String, stamp: HLC, value: [UInt8]?) { self.kind = kind; self.id = id; self.stamp = stamp; self.value = value }
    public var key: String { "\(kind.rawValue)/\(id)" }
    public var isTombstone: Bool { value == nil }
}

/// The registry's merge: last writer wins per record, by HLC (wall, logical, node id). The merge is
/// commutative, associative and idempotent, so the same set of changes applied in any order, with
/// any duplication, gives the same state. A record stamped too far in the future is refused and
/// counted, never stored (it would otherwise win every later conflict).
public struct Registry: Sendable {
    public private(set) var records: [String: RegistryRecord] = [:]
    public private(set) var refusedFuture = 0
    public var clock: HLCClock

    public init(node: String, maxDrift: Int64 = 60_000) { clock = HLCClock(node: node, maxDrift: maxDrift) }

    public enum Outcome: Sendable, Equatable { case applied, stale, refused }

    /// A local write (or delete, with `value == nil`), stamped by this node's clock.
    public mutating func write(kind: RegistryRecord.Kind, id: String, value: [UInt8]?, wall: Int64) -> RegistryRecord {
        let r = RegistryRecord(kind: kind, id: id, stamp: clock.now(wall: wall), value: value)
        records[r.key] = r
        return r
    }

    /// Merges a record from a peer.
    @discardableResult
    public mutating func merge(_ r: RegistryRecord, wall: Int64) -> Outcome {
        guard clock.observe(r.stamp, wall: wall) else { refusedFuture += 1; return .refused }
        guard r.supersedes(records[r.key]?.stamp) else { return .stale }
        records[r.key] = r
        return .applied
    }

    /// Live values (tombstones left out).
    public func value(_ kind: RegistryRecord.Kind, _ id: String) -> [UInt8]? { records["\(kind.rawValue)/\(id)"]?.value }

    /// A digest of the whole registry: equal on two nodes exactly when they hold the same records.
    public var digest: UInt64 { RegistrySync.digest(records.map { (key: $0.key, stamp: $0.value.stamp) }) }

    /// Every record's stamp, for anti-entropy (`RegistrySync.diff`).
    public var stamps: [String: HLC] { records.mapValues(\.stamp) }
}

extension RegistryRecord {
    /// Whether this write wins over the one stamped `current` (nil: nothing stored yet).
    public func supersedes(_ current: HLC?) -> Bool { current.map { $0 < stamp } ?? true }
}
