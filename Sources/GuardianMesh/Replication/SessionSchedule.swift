/// Which members an anti-entropy round starts sessions with (pure: no clock, no I/O).
///
/// A *cycle* (a periodic round, or a round after a membership change) owes one session to every
/// member this node shares projects with. At most `parallel` sessions run at once, so a round can
/// leave members waiting; when a session ends, a catch-up round starts those, and a member already
/// served in the cycle does not go again. The cycle is over when nobody waits, so every member
/// this node shares projects with gets its session, however many there are beyond `parallel`.
public struct SessionSchedule: Sendable {
    public let parallel: Int
    /// Members owed a session this cycle, in the order they will be started.
    public private(set) var waiting: [String] = []
    /// Members a session is running with.
    public private(set) var running: Set<String> = []

    public init(parallel: Int) { self.parallel = max(1, parallel) }

    /// A new cycle owes a session to each of `members` (a member still in a session from the previous
    /// cycle gets a new one when that ends: it may have started before the change this cycle follows).
    public mutating func startCycle(_ members: [String]) {
        var seen = Set<String>()
        waiting = members.filter { seen.insert($0).inserted }
    }

    /// The members to start now, marked running: waiting ones that are not running, while fewer than
    /// `parallel` sessions run. A waiting member that `reachable` says cannot be served now (not
    /// alive, nothing shared any more) leaves the cycle; the next cycle owes it again.
    public mutating func next(reachable: (String) -> Bool) -> [String] {
        var started: [String] = [], kept: [String] = []
        for m in waiting {
            if running.contains(m) { kept.append(m); continue }
            guard reachable(m) else { continue }
            if running.count < parallel {
                running.insert(m)
                started.append(m)
            } else {
                kept.append(m)
            }
        }
        waiting = kept
        return started
    }

    /// A session ended; true when members are waiting, so a catch-up round is due.
    public mutating func ended(_ member: String) -> Bool {
        running.remove(member)
        return !waiting.isEmpty
    }
}
