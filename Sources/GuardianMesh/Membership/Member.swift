/// What travels with a member's membership: identity, addresses and tags. The public key is bound to
/// the node id (the id is derived from it); the shell checks that binding before it accepts a member.
public struct NodeMeta: Sendable, Hashable, Codable {
    public var name: String
    /// Node id (derived from the Ed25519 public key, see `NodeID`).
    public var id: String
    /// Ed25519 public key, standard base64.
    public var publicKey: String
    /// Gossip address, `host:port` (UDP and TCP).
    public var address: String
    /// HTTP API address, `host:port`.
    public var httpAddress: String
    public var version: String
    /// Tags: `team`, `site`, `capacity` and any others an operator sets.
    public var tags: [String: String]

    public init(name: String, id: String = "", publicKey: String = "", address: String, httpAddress: String = "",
                version: String = "", tags: [String: String] = [:]) {
        self.name = name; self.id = id; self.publicKey = publicKey; self.address = address
        self.httpAddress = httpAddress; self.version = version; self.tags = tags
    }

    /// Capacity weight for the ring (tag `capacity`, default 1, clamped to 1…64).
    public var capacity: Int { min(64, max(1, Int(tags["capacity"] ?? "") ?? 1)) }
}

public enum MemberStatus: String, Sendable, Codable, CaseIterable {
    case alive, suspect, dead, left

    /// Alive and suspect members still own data and are probed; dead and left ones are not.
    public var isLive: Bool { self == .alive || self == .suspect }
}

public struct Member: Sendable, Hashable {
    public var meta: NodeMeta
    public var status: MemberStatus
    public var incarnation: UInt64
    /// When the status last changed (core clock).
    public var since: Millis

    public init(meta: NodeMeta, status: MemberStatus, incarnation: UInt64, since: Millis) {
        self.meta = meta; self.status = status; self.incarnation = incarnation; self.since = since
    }
    public var name: String { meta.name }
}

/// A membership change, reported to the shell (and from there to `/v1/events` and the logs).
public struct MemberEvent: Sendable, Hashable {
    public enum Kind: String, Sendable { case joined, updated, suspected, recovered, died, left }
    public var kind: Kind
    public var member: Member
    public var at: Millis
}
