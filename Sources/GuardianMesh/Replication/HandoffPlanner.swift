/// Which projects a node shares with which owners, and which results it may drop because it no
/// longer owns them (pure: the clock, the ring and the running sessions are parameters).
///
/// A node keeps a project's results while it owns the project or holds results of it. When it stops
/// owning one (a *handoff*), it drops those results only once every current owner has confirmed,
/// by a complete anti-entropy session, that it holds everything this node holds; once the change
/// has lasted the grace period (a node that is only down for a while does not move data for good);
/// and only while no session with those owners runs (one still comparing the project would hand
/// the dropped results straight back).
public struct HandoffPlanner: Sendable {
    public struct Handoff: Sendable, Equatable {
        public var owners: [String]
        /// When this node stopped owning the project.
        public var since: Millis
        public var confirmed: Set<String> = []
    }

    public struct Plan: Sendable, Equatable {
        /// For each other owner, the projects to compare with it (sorted).
        public var scopes: [String: [String]]
        /// Projects whose results to drop here, with the owners that hold them.
        public var drop: [String: [String]]

        /// The scopes without the projects whose results were dropped (a drop that failed keeps
        /// its project compared, as before it was planned).
        public func scopes(without dropped: Set<String>) -> [String: [String]] {
            scopes.mapValues { $0.filter { !dropped.contains($0) } }
        }
    }

    public let me: String
    public let grace: Millis
    public private(set) var handoffs: [String: Handoff] = [:]

    public init(me: String, grace: Millis) { self.me = me; self.grace = grace }

    /// One round. `owners(p)`: the project's owners on the current ring; `held`: projects this node
    /// holds results of; `running`: members a session runs with now.
    public mutating func plan(registered: [String], held: Set<String>, owners: (String) -> [String], now: Millis,
                              running: Set<String>) -> Plan {
        var scopes: [String: [String]] = [:]
        var unowned: [String: [String]] = [:]
        for p in registered {
            let o = owners(p)
            let mine = o.contains(me)
            guard mine || held.contains(p) else { continue }
            for peer in o where peer != me { scopes[peer, default: []].append(p) }
            if !mine { unowned[p] = o }
        }
        for (p, o) in unowned {
            var h = handoffs[p] ?? Handoff(owners: o, since: now)
            if h.owners != o { h = Handoff(owners: o, since: h.since) } // new owners confirm again
            handoffs[p] = h
        }
        for p in handoffs.keys where unowned[p] == nil { handoffs[p] = nil } // owned again (or gone)
        var drop: [String: [String]] = [:]
        for (p, h) in handoffs where Set(h.owners).isSubset(of: h.confirmed) && now - h.since >= grace && running.isDisjoint(with: h.owners) {
            drop[p] = h.owners
            handoffs[p] = nil
        }
        return Plan(scopes: scopes.mapValues { $0.sorted() }, drop: drop)
    }

    /// A complete session with `peer` over `scope`: for handoffs, `peer` holds those results.
    public mutating func confirmed(_ peer: String, scope: [String]) {
        for p in scope where handoffs[p]?.owners.contains(peer) == true { handoffs[p]!.confirmed.insert(peer) }
    }
}
