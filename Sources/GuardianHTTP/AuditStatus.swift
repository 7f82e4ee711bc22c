import GuardianNode
import Foundation
import GuardianStore
import GuardianCore
import GuardianCrypto
import Hummingbird
import NIOCore
import Synchronization

extension API {
    /// `ProjectAuditStatus`. The part that comes from the latest signed result is rendered once per
    /// (project, result, project update) and kept in memory; each request adds only the live field,
    /// `runningAudit`. Time, commit, health and id come from the result's columns; the checks, the
    /// insights, the gate and the profile the audit used come from its signed statement.
    func auditStatus(_ project: ProjectRecord) throws -> Response {
        let latest = try node.store.latestResultSummary(project: project.id)
        let cacheKey = "\(latest?.id ?? "-")|\(project.updatedAt)|\(project.nextAuditAt ?? 0)"
        var bytes: [UInt8]
        if let hit = statusCache.get(project.id, key: cacheKey) {
            bytes = hit
        } else {
            bytes = try renderStatus(project, latest: try latest.flatMap { try node.store.result(id: $0.id) })
            statusCache.put(project.id, key: cacheKey, bytes)
        }
        let running: Any
        if let t = node.currentTask(project: project.id) {
            running = ["taskId": t.id, "state": t.state.rawValue, "phase": t.phase, "progress": t.progress] as [String: Any]
        } else {
            running = NSNull()
        }
        var live: [String: Any] = ["runningAudit": running]
        if project.codeHost != nil {
            // what the code host last answered: a token without the right shows here, not in a log
            live["codeHost"] = (try? node.store.latestCodeHostWrite(project: project.id)).flatMap { $0 }.map { row -> [String: Any] in
                ["state": row.state, "lastAnswer": row.lastAnswer ?? NSNull(), "channel": row.channel, "attempts": row.attempts,
                 "updatedAt": ISO8601.format(Double(row.updatedAt) / 1000)]
            } ?? NSNull()
        }
        Self.appendField(to: &bytes, live)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func renderStatus(_ project: ProjectRecord, latest: ResultRecord?) throws -> [UInt8] {
        var body: [String: Any] = ["projectId": project.id, "projectName": project.name, "repositoryUrl": project.repositoryUrl,
                                   "lastAuditTime": NSNull(), "overallHealthScore": NSNull(), "magicResults": [String: Any](),
                                   "aiInsights": [Any](), "nextScheduledAudit": project.nextAuditAt.map { ISO8601.format($0) } ?? NSNull()]
        // the profile the audits use (the team's, when it has one); the latest result's own profile
        // name and strictness replace these below: those are what that audit used
        let profile = node.store.effectiveProfile(project)
        var configuration: [String: Any] = ["team": project.team, "profile": profile.name, "strictness": profile.strictness,
                                            "focusAreas": profile.focusAreas.map(\.rawValue)]
        // a stored envelope that no longer reads (scrub and repair replace it) shows as no audit yet
        if let latest, let report = Self.predicate(of: latest.envelope) {
            body["lastAuditTime"] = ISO8601.format(latest.createdAt)
            body["overallHealthScore"] = latest.health
            body["commit"] = latest.commitId ?? NSNull()
            body["resultId"] = latest.id
            for key in ["magicResults", "aiInsights", "gate"] { body[key] = report[key] }
            for key in ["profile", "strictness", "learning"] { if let v = report[key] { configuration[key] = v } }
        }
        body["teamConfiguration"] = configuration
        return [UInt8](try JSONSerialization.data(withJSONObject: body, options: [.withoutEscapingSlashes]))
    }

    /// The report a stored envelope signs (its in-toto statement's predicate).
    static func predicate(of envelope: Data) -> [String: Any]? {
        guard let env = try? DSSE.parse([UInt8](envelope)), let payload = Sodium.base64Decode(env.payload),
              let statement = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else { return nil }
        return statement["predicate"] as? [String: Any]
    }

    /// Adds the members of `fields` to the JSON object in `bytes`: `{…}` becomes `{…,"k":v}`.
    static func appendField(to bytes: inout [UInt8], _ fields: [String: Any]) {
        guard bytes.last == UInt8(ascii: "}"),
              let extra = try? JSONSerialization.data(withJSONObject: fields, options: [.withoutEscapingSlashes]) else { return }
        bytes.removeLast()
        if bytes.last != UInt8(ascii: "{") { bytes.append(UInt8(ascii: ",")) }
        bytes.append(contentsOf: extra.dropFirst())
    }
}

/// Something rendered for a project and kept: one entry per project, replaced when its key (the
/// state it was rendered from) changes; bounded, so ids that come and go cannot grow it forever.
final class RenderCache<Value: Sendable>: Sendable {
    private let entries = Mutex<[String: (key: String, value: Value)]>([:])
    func get(_ project: String, key: String) -> Value? { entries.withLock { e in e[project].flatMap { $0.key == key ? $0.value : nil } } }
    func put(_ project: String, key: String, _ value: Value) {
        entries.withLock { e in
            if e.count > 100_000 { e.removeAll() }
            e[project] = (key, value)
        }
    }
}
