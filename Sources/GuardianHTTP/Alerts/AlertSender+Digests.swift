import Foundation
import GuardianCore
import GuardianMesh
import GuardianNode
import GuardianStore
import NIOCore

/// Digests: held events forwarded to their channel's owners, and each period's digest built there.
extension AlertSender {
    /// Held events go to their channel's owners, which send its digests: by the project's primary
    /// at once, by a standby once the owners before it look gone (as messages are sent). An event
    /// counts as forwarded once every other channel owner has it or looks gone.
    func forwardHeld(now: Int64) async {
        let rows: [AlertOutboxRow]
        do { rows = try store.unforwardedHeld(limit: 5_000) } catch { return }
        for (channel, group) in Dictionary(grouping: rows, by: \.channel) {
            var mine: [AlertOutboxRow] = []
            for row in group {
                guard let rank = await rank(of: row) else { continue }
                // forwarded as a message is sent: the state and due time of a held event are its digest's
                var entry = row.entry
                entry.state = .queued
                entry.nextAttemptAt = nil
                if await acts(on: entry, rank: rank, now: now) { mine.append(row) }
            }
            guard !mine.isEmpty else { continue }
            let others = await channelOwners(channel).filter { $0 != nodeName }
            var done = true
            if !others.isEmpty, let body = try? JSONEncoder().encode(mine) {
                let acked = await post(body, to: others, path: API.alertHeldPath)
                let gone = await goneFor(others)
                done = others.allSatisfy { acked.contains($0) || gone[$0] != nil }
            }
            if done { try? store.markForwarded(mine.map(\.id), at: now) }
        }
    }

    /// The digests whose period ended at least `settle` ago, built by each of the channel's owners
    /// (the same id on each: only one sends, as with messages). Events that reach an owner after it
    /// built the period's digest go into the next one.
    func buildDigests(now: Int64) async {
        let rows: [AlertOutboxRow]
        do { rows = try store.heldDue(before: now - settle, limit: 5_000) } catch { return }
        let groups = Dictionary(grouping: rows) { "\($0.channel)\u{0}\($0.digest ?? "")\u{0}\($0.nextAttemptAt ?? 0)" }
        for items in groups.values {
            let first = items[0]
            guard let end = first.nextAttemptAt else { continue }
            let ids = items.map(\.id)
            guard let period = first.digest.flatMap(DigestPeriod.init(rawValue:)),
                  let channel = try? api.node.registry.channel(id: first.channel) else {
                try? store.markDigested(ids, answer: "no digest: the channel no longer exists", now: now)
                continue
            }
            guard await channelOwners(channel.id).contains(nodeName) else {
                // another node's digest: this node's events went there (forwarded by it, or by the
                // project's primary when this node's copy was a standby's), a settle period ago
                try? store.markDigested(ids, answer: "gathered by the channel's owners for its digest", now: now)
                continue
            }
            let start = end - period.length
            let id = period.deliveryID(channel: channel.id, start: start)
            if (try? store.hasAlert(id: id)) == true {
                _ = try? store.digest(AlertOutboxRow(id: id, projectId: nil, channel: channel.id, resultId: nil, payload: nil, createdAt: end, updatedAt: now),
                                      items: [], late: ids.map { ($0, end + period.length) }, now: now)
                continue
            }
            let projects: [(id: String, name: String, summary: ProjectSummary?)]
            if period == .weekly {
                let summaries = (try? store.summaries()) ?? [:]
                projects = ((try? store.projects()) ?? []).filter { channel.isMeshWide || $0.team == channel.team }.map { ($0.id, $0.name, summaries[$0.id]) }
            } else {
                projects = []
            }
            let link = api.node.alerts.link("teams/\(channel.team)")
            let payload = AlertDigest.payload(channel: channel, period: period, start: start, held: items.compactMap { AlertPayload.decode($0.payload) },
                                              projects: projects, link: link)
            var row = AlertOutboxRow(id: id, projectId: nil, channel: channel.id, resultId: nil, payload: payload.encoded, createdAt: end, updatedAt: now)
            row.digest = period.rawValue
            do { try store.digest(row, items: ids, late: [], now: now) } catch {
                logger.error("could not write a digest", metadata: ["channel": "\(channel.id)", "error": "\(error)"])
            }
        }
    }
}
