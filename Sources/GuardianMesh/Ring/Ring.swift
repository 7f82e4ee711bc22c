/// A consistent-hash ring with virtual nodes weighted by capacity.
///
/// Each node gets `vnodesPerCapacity × capacity` points on a 64-bit ring (hash of `name#i`). A key's
/// owners are the first `n` distinct nodes clockwise from the key's hash; its primary is the first
/// of them. The ring is a pure value built from a member list, so every node that sees the same
/// members computes the same owners; a join or a leave moves only the keys next to the points that
/// came or went, about 1/n of them.
public struct Ring: Sendable {
    public struct Node: Sendable, Hashable {
        public var name: String
        public var capacity: Int
        public init(name: String, capacity: Int = 1) { self.name = name; self.capacity = max(1, capacity) }
    }

    /// 4,096 points per unit of capacity: a node's share varies as 1/√points, and with 100 nodes
    /// this keeps the largest share within about 4 % of the mean and the keys a join moves within
    /// a few per cent of 1/n (1,024 points gave 10.7 % and 2,048 still let one join in ten move
    /// 1.07/n). 100 nodes are 409,600 points, about 5 MB, rebuilt only when membership changes.
    public static let defaultVnodes = 4096

    public let nodes: [Node]
    private let points: [UInt64]
    private let owners: [Int32] // index into `nodes`, parallel to `points`

    public init(nodes: [Node], vnodesPerCapacity: Int = Ring.defaultVnodes) {
        let sorted = nodes.sorted { $0.name < $1.name }
        self.nodes = sorted
        var pairs: [(UInt64, Int32)] = []
        pairs.reserveCapacity(sorted.reduce(0) { $0 + $1.capacity } * vnodesPerCapacity)
        for (i, n) in sorted.enumerated() {
            let base = MeshHash.of(n.name)
            for v in 0..<(n.capacity * vnodesPerCapacity) {
                pairs.append((MeshHash.mix(base &+ UInt64(v) &* 0x9E37_79B9_7F4A_7C15), Int32(i)))
            }
        }
        // Ties (astronomically rare) break by node name, so every node builds the same ring.
        pairs.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        points = pairs.map(\.0)
        owners = pairs.map(\.1)
    }

    /// Position of a key on the ring.
    public static func position(of key: String) -> UInt64 { MeshHash.of(key) }

    /// The first `count` distinct nodes clockwise from `key` (fewer if the ring has fewer nodes).
    public func owners(of key: String, count: Int) -> [String] {
        guard !points.isEmpty, count > 0 else { return [] }
        let want = min(count, nodes.count)
        var i = firstIndex(atOrAfter: Ring.position(of: key))
        var seen: [Int32] = []
        seen.reserveCapacity(want)
        while seen.count < want {
            let o = owners[i]
            if !seen.contains(o) { seen.append(o) }
            i += 1
            if i == points.count { i = 0 }
        }
        return seen.map { nodes[Int($0)].name }
    }

    public func primary(of key: String) -> String? { owners(of: key, count: 1).first }

    /// Each node's share of the ring (the fraction of keys it is primary for), exactly.
    public func shares() -> [String: Double] {
        guard !points.isEmpty else { return [:] }
        var arc = [Double](repeating: 0, count: nodes.count)
        // the arc (previous point, this point] belongs to this point's node
        for i in 0..<points.count {
            let prev = i == 0 ? points[points.count - 1] : points[i - 1]
            arc[Int(owners[i])] += Double(points[i] &- prev)
        }
        let total = arc.reduce(0, +)
        var out: [String: Double] = [:]
        for (i, n) in nodes.enumerated() { out[n.name] = arc[i] / total }
        return out
    }

    private func firstIndex(atOrAfter h: UInt64) -> Int {
        var lo = 0, hi = points.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if points[mid] < h { lo = mid + 1 } else { hi = mid }
        }
        return lo == points.count ? 0 : lo
    }
}

extension Ring {
    /// The ring of a membership view: every live member (alive or suspect) with its capacity tag.
    /// Dead and left members own nothing; their keys fall to the next nodes clockwise.
    public init(members: [Member], including me: NodeMeta?, vnodesPerCapacity: Int = Ring.defaultVnodes) {
        var nodes = members.filter { $0.status.isLive }.map { Node(name: $0.name, capacity: $0.meta.capacity) }
        if let me { nodes.append(Node(name: me.name, capacity: me.capacity)) }
        self.init(nodes: nodes, vnodesPerCapacity: vnodesPerCapacity)
    }
}
