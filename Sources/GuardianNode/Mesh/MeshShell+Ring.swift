import GuardianStore
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// What the node sees: the membership view, the ring of live members, and the owners of a key.
extension MeshShell {
    public struct View: Sendable {
        public var me: Member
        public var members: [Member]
        public var rtt: [String: Millis]
        public var digest: UInt64
    }

    public func view() -> View {
        let s = instance
        return View(me: s.myself, members: s.others.sorted { $0.name < $1.name }, rtt: s.rtt, digest: s.digest)
    }

    /// The consistent-hash ring of the live members this node sees, itself included.
    public func ring() -> Ring {
        if let cachedRing { return cachedRing }
        let r = Ring(members: instance.others, including: instance.me)
        cachedRing = r
        return r
    }

    /// The owners a key would have if every member not known to have left were alive.
    /// `count`: how many (default: the replication factor).
    public func intendedOwners(of key: String, count: Int? = nil) -> [String] {
        let s = instance
        if cachedIntendedRing == nil {
            let nodes = s.others.filter { $0.status != .left }.map { Ring.Node(name: $0.name, capacity: $0.meta.capacity) }
                + [Ring.Node(name: s.me.name, capacity: s.me.capacity)]
            cachedIntendedRing = Ring(nodes: nodes)
        }
        return cachedIntendedRing!.owners(of: key, count: count ?? config.replicationFactor)
    }


    /// The owners of a key on the current ring (primary first).
    public func owners(of key: String) -> [String] {
        ring().owners(of: key, count: config.replicationFactor)
    }

    /// The ring and the live members' gossip addresses, read in one turn.
    func placement() -> (ring: Ring, live: [String: String]) { (ring(), liveAddresses()) }

    /// A key's owners on the live ring, its intended owners, and the live members' gossip addresses,
    /// read in one turn.
    func placement(of key: String) -> (owners: [String], intended: [String], live: [String: String]) {
        (owners(of: key), intendedOwners(of: key), liveAddresses())
    }
}
