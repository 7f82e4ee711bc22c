/// Updates waiting to be piggybacked. One per member (a newer update about a member replaces the
/// older one); each goes out at most `limit` times, fewest-sent and newest first, in as many as fit
/// the datagram (SWIM's infection-style dissemination with memberlist's retransmit limit).
struct Broadcasts: Sendable {
    private struct Entry: Sendable {
        var update: Update
        var transmits: Int
        var order: UInt64
        var size: Int
    }
    private var entries: [String: Entry] = [:]
    private var counter: UInt64 = 0

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    mutating func add(_ u: Update) {
        counter += 1
        entries[u.subject] = Entry(update: u, transmits: 0, order: counter, size: Wire.size(of: u))
    }

    func pending(about name: String) -> Update? { entries[name]?.update }

    /// Takes updates that fit in `budget` bytes and counts a transmission for each; updates sent
    /// `limit` times are dropped.
    mutating func take(budget: Int, limit: Int) -> [Update] {
        guard !entries.isEmpty, budget > 0 else { return [] }
        let ordered = entries.values.sorted { a, b in a.transmits != b.transmits ? a.transmits < b.transmits : a.order > b.order }
        var out: [Update] = []
        var used = 0
        for e in ordered where used + e.size <= budget {
            used += e.size
            out.append(e.update)
            let subject = e.update.subject
            if e.transmits + 1 >= limit { entries[subject] = nil } else { entries[subject]?.transmits += 1 }
        }
        return out
    }
}
