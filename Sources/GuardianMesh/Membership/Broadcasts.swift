/// Updates waiting to be piggybacked. One per member (a newer update about a member replaces the
/// older one); each goes out at most `limit` times, fewest-sent and newest first, in as many as fit
/// the datagram (SWIM's infection-style dissemination with memberlist's retransmit limit).
///
/// Entries sit in buckets by transmit count, newest at the end, so taking k updates costs about k
/// steps even with thousands queued (after a partition heals every node has news about half the
/// cluster). Replaced or retired entries stay in their bucket as stale markers and are dropped when
/// a scan reaches them.
struct Broadcasts: Sendable {
    private struct Entry: Sendable {
        var update: Update
        var transmits: Int
        var order: UInt64
        var size: Int
    }
    private var entries: [String: Entry] = [:]
    private var buckets: [[(subject: String, order: UInt64)]] = [[]]
    private var counter: UInt64 = 0

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    mutating func add(_ u: Update) {
        counter += 1
        entries[u.subject] = Entry(update: u, transmits: 0, order: counter, size: Wire.size(of: u))
        buckets[0].append((u.subject, counter))
    }

    /// Takes updates that fit in `budget` bytes and counts a transmission for each; updates sent
    /// `limit` times are dropped.
    mutating func take(budget: Int, limit: Int) -> [Update] {
        guard !entries.isEmpty, budget > 0 else { return [] }
        var out: [Update] = []
        var used = 0
        var promoted: [(Int, String, UInt64)] = []
        var t = 0
        while t < buckets.count && used < budget {
            var i = buckets[t].count - 1
            while i >= 0 && used < budget {
                let (subject, order) = buckets[t][i]
                guard let e = entries[subject], e.order == order, e.transmits == t else {
                    // stale marker: drop it (cheaply when it is at the end)
                    if i == buckets[t].count - 1 { buckets[t].removeLast() } else { buckets[t].remove(at: i) }
                    i -= 1
                    continue
                }
                if used + e.size <= budget {
                    used += e.size
                    out.append(e.update)
                    if i == buckets[t].count - 1 { buckets[t].removeLast() } else { buckets[t].remove(at: i) }
                    if e.transmits + 1 >= limit { entries[subject] = nil } else {
                        entries[subject]!.transmits += 1
                        promoted.append((t + 1, subject, order))
                    }
                }
                i -= 1
                // a long run of entries too big for what is left: stop scanning this bucket
                if out.count > 0 && budget - used < 24 { break }
            }
            t += 1
        }
        for (b, subject, order) in promoted {
            while buckets.count <= b { buckets.append([]) }
            buckets[b].append((subject, order))
        }
        return out
    }
}
