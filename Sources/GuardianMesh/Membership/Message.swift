/// A membership update, piggybacked on protocol messages (SWIM's dissemination component).
public enum Update: Sendable, Hashable {
    /// `meta.name` is alive at `incarnation`, with this metadata.
    case alive(incarnation: UInt64, meta: NodeMeta)
    /// `from` suspects `name` at `incarnation`.
    case suspect(name: String, incarnation: UInt64, from: String)
    /// `from` declares `name` dead at `incarnation`; `from == name` is a graceful leave.
    case dead(name: String, incarnation: UInt64, from: String)

    /// The member the update is about.
    public var subject: String {
        switch self {
        case .alive(_, let m): m.name
        case .suspect(let n, _, _), .dead(let n, _, _): n
        }
    }
}

/// The protocol's datagrams. Every one carries its sender's name and piggybacked updates.
public enum Message: Sendable, Hashable {
    /// Direct probe of `target` (a node that restarted under another name at the same address ignores it).
    case ping(seq: UInt32, target: String, source: String, updates: [Update])
    /// Ask `source`'s peer to probe `target` at `targetAddress` on its behalf (indirect probe).
    case pingReq(seq: UInt32, target: String, targetAddress: String, source: String, updates: [Update])
    /// Answer to a ping (directly or relayed for an indirect probe).
    case ack(seq: UInt32, source: String, updates: [Update])
    /// Lifeguard: the relay could not reach the target in time, so the requester knows the relay works.
    case nack(seq: UInt32, source: String)
    /// Updates only (a graceful leave, or urgent news sent to a few peers at once).
    case gossip(source: String, updates: [Update])

    public var source: String {
        switch self {
        case .ping(_, _, let s, _), .pingReq(_, _, _, let s, _), .ack(_, let s, _), .nack(_, let s), .gossip(let s, _): s
        }
    }

    /// The same message with other piggybacked updates (the shell drops updates it refuses).
    public func replacingUpdates(_ u: [Update]) -> Message {
        switch self {
        case .ping(let s, let t, let src, _): .ping(seq: s, target: t, source: src, updates: u)
        case .pingReq(let s, let t, let a, let src, _): .pingReq(seq: s, target: t, targetAddress: a, source: src, updates: u)
        case .ack(let s, let src, _): .ack(seq: s, source: src, updates: u)
        case .nack: self
        case .gossip(let src, _): .gossip(source: src, updates: u)
        }
    }

    public var updates: [Update] {
        switch self {
        case .ping(_, _, _, let u), .pingReq(_, _, _, _, let u), .ack(_, _, let u), .gossip(_, let u): u
        case .nack: []
        }
    }
}

/// One member's state in a push-pull exchange (full-state sync over TCP).
public struct MemberState: Sendable, Hashable {
    public var meta: NodeMeta
    public var status: MemberStatus
    public var incarnation: UInt64
    public init(meta: NodeMeta, status: MemberStatus, incarnation: UInt64) {
        self.meta = meta; self.status = status; self.incarnation = incarnation
    }
}
