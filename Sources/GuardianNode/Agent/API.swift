import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP API v1 (docs/openapi.yaml).
public struct API: Sendable {
    let node: Node
    let mesh: MeshNode?
    let statusCache = RenderCache()
    var tokenCache: TokenCache { node.tokenCache }
    /// The ring of a node without a mesh: itself alone.
    let soloRing: Ring

    public init(node: Node, mesh: MeshNode? = nil) {
        self.node = node
        self.mesh = mesh
        soloRing = Ring(nodes: [Ring.Node(name: node.config.name, capacity: Int(node.config.tags["capacity"] ?? "") ?? 1)])
    }

    /// Every route, with JSON errors for everything that fails.
    public func router() -> Router<GuardianContext> {
        let router = Router(context: GuardianContext.self)
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: MemberAuthMiddleware(mesh: mesh, maxBodyBytes: node.config.maxBodyBytes))
        router.get("/livez") { _, _ in Self.json(["status": "ok"]) }
        router.get("/readyz") { _, _ in
            _ = try node.store.tokenCount()
            return Self.json(["status": "ready"])
        }
        router.get("/metrics") { request, context in
            if !node.config.publicMetrics { _ = try await authenticate(request, context) }
            return try await metrics()
        }
        router.get("/v1/node") { request, context in
            _ = try await authenticate(request, context)
            return try await nodeInfo()
        }
        router.get("/v1/members") { request, context in
            _ = try await authenticate(request, context)
            guard let view = await mesh?.view() else {
                let info = try await nodeInfo(asMember: true)
                return Self.json(["members": [info], "digest": Sodium.hex(Sodium.blake2b(Array(node.nodeID.utf8), length: 16))] as [String: Any])
            }
            let list = ([view.me] + view.members).map { m -> [String: Any] in
                ["name": m.name, "id": m.meta.id, "address": m.meta.address, "httpAddress": m.meta.httpAddress, "status": m.status.rawValue,
                 "incarnation": m.incarnation, "tags": m.meta.tags, "version": m.meta.version, "rtt": view.rtt[m.name].map { $0 as Any } ?? NSNull()]
            }
            return Self.json(["members": list, "digest": String(format: "%016llx", view.digest)] as [String: Any])
        }
        router.post("/v1/members/join") { request, context in
            let mesh = try await meshForAdmin(request, context, "join")
            struct Input: Decodable { var address: String }
            let input: Input = try await decode(request, context)
            guard let n = await mesh.join(input.address) else {
                throw APIError(.badGateway, "join_failed", "no push-pull answer from \(input.address) (wrong address, or a different cluster key)")
            }
            return Self.json(["joined": input.address, "members": n])
        }
        router.post("/v1/members/:name/force-leave") { request, context in
            let mesh = try await meshForAdmin(request, context, "force a member out")
            let name = context.parameters.get("name") ?? ""
            do { try await mesh.forceLeave(name) } catch let e as GuardianError {
                throw APIError(e.description.contains("no member") ? .notFound : .conflict, "force_leave_refused", e.description)
            }
            return Self.json(["left": name])
        }
        router.post("/v1/leave") { request, context in
            let mesh = try await meshForAdmin(request, context, "leave")
            await mesh.leave()
            return Self.json(["left": true])
        }
        router.get("/v1/keys") { request, context in
            let mesh = try await meshForAdmin(request, context, "see the keyring")
            let ids = await mesh.keyIDs()
            return Self.json(["primary": ids.primary, "keys": ids.all] as [String: Any])
        }
        router.post("/v1/keys") { request, context in
            let mesh = try await meshForAdmin(request, context, "change the keyring")
            struct Input: Decodable { var action: String; var key: String }
            let input: Input = try await decode(request, context)
            guard let action = MeshNode.KeyAction(rawValue: input.action) else {
                throw APIError(.badRequest, "invalid_action", "action must be install, use or remove")
            }
            do { try await mesh.changeKey(action, input.key) } catch let e as CryptoError {
                throw APIError(.badRequest, "invalid_key", e.description)
            }
            let ids = await mesh.keyIDs()
            return Self.json(["primary": ids.primary, "keys": ids.all] as [String: Any])
        }
        router.get("/v1/ring") { request, context in
            _ = try await authenticate(request, context)
            let ring = await currentRing()
            let shares = ring.shares()
            return Self.json(["replicationFactor": node.config.replicationFactor, "vnodesPerCapacity": Ring.defaultVnodes,
                              "nodes": ring.nodes.map { ["name": $0.name, "capacity": $0.capacity, "share": shares[$0.name] ?? 0] as [String: Any] }]
                             as [String: Any])
        }
        router.get("/v1/ring/owners") { request, context in
            _ = try await authenticate(request, context)
            guard let key = request.uri.queryParameters.get("key"), !key.isEmpty else {
                throw APIError(.badRequest, "missing_key", "give ?key=PROJECT or PROJECT/SHARD")
            }
            return Self.json(await owners(of: key).merging(["key": key]) { a, _ in a })
        }
        router.get("/v1/projects/:id/owners") { request, context in
            let (_, project) = try await readable(request, context)
            return Self.json(await owners(of: project.id))
        }
        router.post("/v1/projects") { request, context in
            let p = try await authenticate(request, context)
            let input: ProjectInput = try await decode(request, context)
            let team = input.team ?? "default"
            guard p.canWrite(team: team) else { throw forbidden(team) }
            let record = try await node.register(input, admin: p.isAdmin)
            return try Self.json(projectView(record), status: .created)
        }
        router.get("/v1/projects") { request, context in
            let p = try await authenticate(request, context)
            let list = try node.store.projects().filter { p.canRead(team: $0.team) }
            return try Self.json(["items": list.map(projectView)])
        }
        router.get("/v1/projects/:id") { request, context in
            let (_, project) = try await readable(request, context)
            return try Self.json(projectView(project))
        }
        router.patch("/v1/projects/:id") { request, context in
            let (p, project) = try await readable(request, context)
            guard p.canWrite(team: project.team) else { throw forbidden(project.team) }
            let input: ProjectInput = try await decode(request, context)
            var updated = project
            if let n = input.name { updated.name = n }
            if let b = input.branch { updated.branch = b }
            if let s = input.scheduleSeconds {
                guard s >= 0 else { throw APIError(.badRequest, "invalid_schedule", "scheduleSeconds must be ≥ 0") }
                updated.scheduleSeconds = s
                updated.nextAuditAt = s > 0 ? Date().timeIntervalSince1970 + Double(s) : nil
            }
            if let pr = input.profile {
                guard TeamProfile.builtIn[pr] != nil else { throw APIError(.badRequest, "invalid_profile", "unknown profile '\(pr)'") }
                updated.profile = pr
            }
            if let t = input.team {
                guard p.canWrite(team: t) else { throw forbidden(t) }
                updated.team = t
            }
            // Secrets rotate: a new value replaces the old one, an empty string removes it.
            if let w = input.webhookSecret { updated.webhookSecret = w.isEmpty ? nil : node.seal(w) }
            if let c = input.credentials { updated.credentials = c.isEmpty ? nil : node.seal(c) }
            try Node.checkSecrets(input)
            if input.repositoryUrl != nil { throw APIError(.badRequest, "immutable_field", "repositoryUrl cannot change; register a new project") }
            updated.updatedAt = Date().timeIntervalSince1970
            try node.registry.update(project: updated)
            return try Self.json(projectView(updated))
        }
        router.delete("/v1/projects/:id") { request, context in
            let (p, project) = try await readable(request, context)
            guard p.canWrite(team: project.team) else { throw forbidden(project.team) }
            try await node.deleteProject(project.id)
            return Response(status: .noContent)
        }
        router.get("/v1/projects/:id/audit-status") { request, context in
            let (p, project) = try await readable(request, context)
            if let forwarded = try await forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
            return try await auditStatus(project)
        }
        router.post("/v1/projects/:id/audits") { request, context in
            let (p, project) = try await readable(request, context)
            guard p.canWrite(team: project.team) else { throw forbidden(project.team) }
            if let forwarded = try await forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
            let rev = request.uri.queryParameters.get("rev")
            let task = try await node.enqueue(project: project.id, reason: .manual, revision: rev)
            return Self.json(["taskId": task.id, "state": task.state.rawValue, "statusUrl": "/v1/audits/\(task.id)"], status: .accepted)
        }
        router.get("/v1/audits/:task") { request, context in
            let p = try await authenticate(request, context)
            let id = try context.parameters.require("task")
            guard let task = await node.task(id) else {
                if let elsewhere = await askMembers(request, context, as: p) { return elsewhere.response }
                throw APIError(.notFound, "not_found", "no audit task '\(id)'")
            }
            // Same answer for "absent" and "not yours" (a task of a removed project is the admin's alone).
            guard try canRead(p, project: task.projectId) else { throw APIError(.notFound, "not_found", "no audit task '\(id)'") }
            return try Self.encodable(task)
        }
        router.get("/v1/projects/:id/results") { request, context in
            let (p, project) = try await readable(request, context)
            if let forwarded = try await forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
            // read repair: an owner that serves a project's results compares it with the other owners
            if let mesh { Task { await mesh.repair(project: project.id) } }
            let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 20, 1), 200)
            let before = request.uri.queryParameters.get("before", as: Double.self)
            let rows = try node.store.results(project: project.id, limit: limit, before: before)
            let corrupt = rows.filter { DSSE.recordID([UInt8]($0.envelope)) != $0.id }
            if !corrupt.isEmpty { try await removeCorrupt(corrupt.map(\.id)) }
            let good = rows.filter { r in !corrupt.contains { $0.id == r.id } }
            let items = good.compactMap { try? JSONSerialization.jsonObject(with: $0.envelope) }
            var body: [String: Any] = ["items": items, "ids": good.map(\.id)]
            if rows.count == limit, let last = rows.last { body["next"] = "/v1/projects/\(project.id)/results?limit=\(limit)&before=\(last.createdAt)" }
            return Self.json(body)
        }
        router.get("/v1/results/:id") { request, context in
            let p = try await authenticate(request, context)
            let id = try context.parameters.require("id")
            var found = try node.store.result(id: id)
            if let r = found, DSSE.recordID([UInt8](r.envelope)) != r.id {
                try await removeCorrupt([r.id])
                found = nil
            }
            guard let r = found else {
                if let elsewhere = await askMembers(request, context, as: p) {
                    await readRepair(elsewhere, id: id)
                    return elsewhere.response
                }
                throw APIError(.notFound, "not_found", "no result '\(id)'")
            }
            guard try canRead(p, project: r.projectId) else { throw APIError(.notFound, "not_found", "no result '\(id)'") }
            // the exact stored bytes
            return Response(status: .ok, headers: [.contentType: "application/json", Self.recordIDHeader: r.id,
                                                   Self.projectHeader: r.projectId, Self.createdAtHeader: String(r.createdAt)],
                            body: .init(byteBuffer: ByteBuffer(bytes: r.envelope)))
        }
        router.get("/v1/projects/:id/findings") { request, context in
            let (p, project) = try await readable(request, context)
            if let forwarded = try await forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
            guard let latest = try node.store.latestResultSummary(project: project.id) else { return Self.json(["items": [String]()]) }
            let q = request.uri.queryParameters
            let check = q.get("check"), severity = q.get("severity")
            if let c = check, Check(rawValue: c) == nil { throw APIError(.badRequest, "invalid_check", "unknown check '\(c)'") }
            if let s = severity, Severity(rawValue: s) == nil { throw APIError(.badRequest, "invalid_severity", "unknown severity '\(s)'") }
            let onlyNew = q.get("new").map { $0 == "1" || $0 == "true" } ?? false
            let rows = try node.store.findings(result: latest.id, check: check, severity: severity, onlyNew: onlyNew,
                                               limit: min(q.get("limit", as: Int.self) ?? 1000, 10_000))
            return try Self.encodable(["resultId": AnyEncodable(latest.id), "items": AnyEncodable(rows)])
        }
        router.get("/v1/teams/:id") { request, context in
            let p = try await authenticate(request, context)
            let id = try context.parameters.require("id")
            guard p.canRead(team: id) else { throw forbidden(id) }
            guard let t = try node.store.team(id: id) else {
                return try Self.encodable(["id": AnyEncodable(id), "profile": AnyEncodable(TeamProfile.standard)])
            }
            let profile = try TeamProfile.decode(Data(t.profile.utf8), source: "team \(id)")
            return try Self.encodable(["id": AnyEncodable(id), "profile": AnyEncodable(profile)])
        }
        router.put("/v1/teams/:id") { request, context in
            let p = try await authenticate(request, context)
            let id = try context.parameters.require("id")
            guard p.canWrite(team: id) else { throw forbidden(id) }
            let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
            let profile: TeamProfile
            do { profile = try TeamProfile.decode(Data(buffer: body), source: "request body") } catch let e as GuardianError {
                throw APIError(.badRequest, "invalid_profile", e.description)
            }
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            try node.registry.save(team: TeamRecord(id: id, profile: String(decoding: try e.encode(profile), as: UTF8.self),
                                                 updatedAt: Date().timeIntervalSince1970))
            return try Self.encodable(["id": AnyEncodable(id), "profile": AnyEncodable(profile)])
        }
        router.post("/v1/tokens") { request, context in
            let p = try await authenticate(request, context)
            struct Input: Decodable { var role: String; var team: String?; var name: String? }
            let input: Input = try await decode(request, context)
            guard let role = Principal.Role(rawValue: input.role) else {
                throw APIError(.badRequest, "invalid_role", "role must be admin, maintainer or viewer")
            }
            if role != .admin && input.team == nil { throw APIError(.badRequest, "missing_field", "team is required for maintainer and viewer tokens") }
            guard p.isAdmin || (p.role == .maintainer && role != .admin && input.team == p.team) else {
                throw APIError(.forbidden, "forbidden", "this token cannot create \(role.rawValue) tokens")
            }
            let (secret, record) = Auth.newToken(role: role, team: input.team, name: input.name ?? role.rawValue)
            try node.registry.insert(token: record)
            return Self.json(["id": record.id, "token": secret, "role": role.rawValue, "team": input.team ?? ""], status: .created)
        }
        router.delete("/v1/tokens/:id") { request, context in
            let p = try await authenticate(request, context)
            guard p.isAdmin else { throw APIError(.forbidden, "forbidden", "only admin tokens can revoke tokens") }
            let id = try context.parameters.require("id")
            guard try node.registry.deleteToken(id: id) else { throw APIError(.notFound, "not_found", "no token '\(id)'") }
            tokenCache.clear()
            return Response(status: .noContent)
        }
        router.post("/v1/verify") { request, context in
            _ = try await authenticate(request, context)
            let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
            let bytes = [UInt8](Data(buffer: body))
            var trusted = NodeIdentity.trustedKeys(node.dataDir)
            // in a mesh, every member's key too: results replicated here were signed by them
            if let mesh { trusted.merge(await mesh.signerKeys()) { mine, _ in mine } }
            trusted[node.nodeID] = node.identity.verifyingKey
            do {
                let (st, v) = try Attestation.verify(bytes, trusted: trusted)
                return Self.json(["valid": true, "record": DSSE.recordID(bytes), "signers": v.signers,
                                  "repository": st.subject.first?.name ?? "", "commit": st.subject.first?.digest["gitCommit"] ?? "",
                                  "overallHealthScore": st.predicate.overallHealthScore] as [String: Any])
            } catch let e as CryptoError {
                return Self.json(["valid": false, "reason": e.description], status: .unprocessableContent)
            }
        }
        router.get("/v1/events") { request, context in
            let p = try await authenticate(request, context)
            return try await events(lastId: request.headers[HTTPField.Name("Last-Event-ID")!].flatMap(Int.init), as: p)
        }
        var hooks = Webhooks(node: node)
        if mesh != nil {
            let api = self
            hooks.toPrimary = { @Sendable (request: Request, context: GuardianContext, body: ByteBuffer, project: String) async -> Response? in
                await api.forwardWebhookToPrimary(request, context, body: body, project: project)
            }
        }
        hooks.register(on: router)
        addAirGapRoutes(router)
        addDismissalRoutes(router)
        return router
    }

    // MARK: helpers

    /// Who is calling: the principal a forwarding member vouches for (`MemberAuthMiddleware` proved
    /// its claim), else the bearer token's. A forwarded principal must still name a token this node
    /// holds with the same role and team: a token revoked here is revoked for forwarded calls too.
    func authenticate(_ request: Request, _ context: GuardianContext) async throws -> Principal {
        guard let claim = context.forwarded else { return try Auth.authenticate(request, store: node.store, cache: tokenCache) }
        guard case .token(let p) = claim.caller, let rec = try node.store.token(id: p.tokenId),
              rec.role == p.role.rawValue, rec.team == p.team else {
            throw APIError(.unauthorized, "unauthorized", "the forwarded caller's token is not valid here")
        }
        return p
    }

    func readable(_ request: Request, _ context: GuardianContext) async throws -> (Principal, ProjectRecord) {
        let p = try await authenticate(request, context)
        let id = try context.parameters.require("id")
        guard let project = try node.store.project(id: id), p.canRead(team: project.team) else {
            // Same answer for "absent" and "not yours": a viewer of team A learns nothing about team B.
            throw APIError(.notFound, "not_found", "no project '\(id)'")
        }
        return (p, project)
    }

    /// Whether `p` may read what belongs to `project`: admins always, others when the project is
    /// registered here under a team they read.
    func canRead(_ p: Principal, project: String) throws -> Bool {
        if p.isAdmin { return true }
        return try node.store.project(id: project).map { p.canRead(team: $0.team) } ?? false
    }

    func forbidden(_ team: String) -> APIError {
        APIError(.forbidden, "forbidden", "this token may not change team '\(team)'")
    }

    func decode<T: Decodable>(_ request: Request, _ context: GuardianContext) async throws -> T {
        let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: body)) } catch let DecodingError.keyNotFound(k, _) {
            throw APIError(.badRequest, "missing_field", "'\(k.stringValue)' is required")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw APIError(.badRequest, "invalid_json", "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'")
        } catch {
            throw APIError(.badRequest, "invalid_json", "the request body is not valid JSON for this route")
        }
    }

    func projectView(_ p: ProjectRecord) throws -> [String: Any] {
        var v: [String: Any] = ["id": p.id, "name": p.name, "repositoryUrl": p.repositoryUrl, "team": p.team,
                                "scheduleSeconds": p.scheduleSeconds, "profile": p.profile, "createdAt": p.createdAt,
                                "hasWebhookSecret": p.webhookSecret != nil, "hasCredentials": p.credentials != nil,
                                "webhookUrl": "/v1/hooks/github/\(p.id)"]
        v["branch"] = p.branch ?? NSNull()
        v["lastAuditAt"] = p.lastAuditAt ?? NSNull()
        v["nextAuditAt"] = p.nextAuditAt ?? NSNull()
        return v
    }

    /// The ring of the live members this node sees (itself alone without a mesh).
    func currentRing() async -> Ring { await mesh?.ring() ?? soloRing }

    /// `{owners, primary}` of a key on the current ring.
    func owners(of key: String) async -> [String: Any] {
        let owners = await node.owners(of: key)
        return ["owners": owners, "primary": owners.first.map { $0 as Any } ?? NSNull()]
    }

    /// The mesh, for a route that changes it: admin tokens only, and only when there is a mesh.
    func meshForAdmin(_ request: Request, _ context: GuardianContext, _ what: String) async throws -> MeshNode {
        guard try await authenticate(request, context).isAdmin else { throw APIError(.forbidden, "forbidden", "only admin tokens can \(what)") }
        guard let mesh else { throw APIError(.conflict, "no_mesh", "this node runs alone: start it with a cluster key (guardian keygen)") }
        return mesh
    }

    func nodeInfo(asMember: Bool = false) async throws -> Response {
        Self.json(try await nodeInfoDict(asMember: asMember))
    }

    func nodeInfoDict(asMember: Bool) async throws -> [String: Any] {
        let c = node.config
        var d: [String: Any] = ["name": c.name, "id": node.nodeID, "address": c.gossipAddr, "httpAddress": c.httpAddr,
                                "status": "alive", "incarnation": 0, "tags": ["team": "", "site": "", "capacity": "1"],
                                "publicKey": node.identity.verifyingKey.base64, "version": Auditor.version]
        if asMember { d["rtt"] = 0 } else {
            d["uptimeSeconds"] = Int(Date().timeIntervalSince(node.startedAt))
            d["queueDepth"] = await node.queueDepth
            d["runningAudits"] = await node.runningAudits
            d["results"] = try node.store.resultCount()
        }
        return d
    }

    /// `ProjectAuditStatus`. The part that comes from the latest signed result is rendered once per
    /// (project, result, project update) and kept in memory; each request adds only the live fields.
    func auditStatus(_ project: ProjectRecord) async throws -> Response {
        let latest = try node.store.latestResultSummary(project: project.id)
        let cacheKey = "\(project.id)|\(latest?.id ?? "-")|\(project.updatedAt)|\(project.nextAuditAt ?? 0)"
        var bytes: [UInt8]
        if let hit = statusCache.get(cacheKey) {
            bytes = hit
        } else {
            var body: [String: Any] = ["projectId": project.id, "projectName": project.name, "repositoryUrl": project.repositoryUrl,
                                       "lastAuditTime": NSNull(), "overallHealthScore": NSNull(), "magicResults": [String: Any](),
                                       "aiInsights": [Any](), "nextScheduledAudit": project.nextAuditAt.map { ISO8601.format($0) } ?? NSNull()]
            // the profile the audits use (the team's, when it has one); the latest result's own
            // profile name and strictness replace these below: those are what that audit used
            let profile = node.store.effectiveProfile(project)
            var configuration: [String: Any] = ["team": project.team, "profile": profile.name, "strictness": profile.strictness,
                                                "focusAreas": profile.focusAreas.map(\.rawValue)]
            if let latest, let full = try node.store.result(id: latest.id),
               let env = try? DSSE.parse([UInt8](full.envelope)),
               let payload = Sodium.base64Decode(env.payload),
               let statement = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
               let report = statement["predicate"] as? [String: Any] {
                body["lastAuditTime"] = ISO8601.format(full.createdAt)
                body["overallHealthScore"] = report["overallHealthScore"]
                body["magicResults"] = report["magicResults"]
                body["aiInsights"] = report["aiInsights"]
                body["commit"] = full.commitId ?? NSNull()
                body["resultId"] = full.id
                body["gate"] = report["gate"]
                if let name = report["profile"] { configuration["profile"] = name }
                if let strictness = report["strictness"] { configuration["strictness"] = strictness }
                if let learning = report["learning"] { configuration["learning"] = learning }
            }
            body["teamConfiguration"] = configuration
            bytes = [UInt8]((try? JSONSerialization.data(withJSONObject: body, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8))
            statusCache.put(cacheKey, bytes, project: project.id)
        }
        // splice the live field into the cached object: `{...}` -> `{...,"runningAudit":…}`
        let running: Any
        if let t = node.currentTask(project: project.id) {
            running = ["taskId": t.id, "state": t.state.rawValue, "phase": t.phase, "progress": t.progress] as [String: Any]
        } else {
            running = NSNull()
        }
        let live = (try? JSONSerialization.data(withJSONObject: ["runningAudit": running], options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
        if bytes.last == UInt8(ascii: "}") {
            bytes.removeLast()
            bytes.append(UInt8(ascii: ","))
            bytes.append(contentsOf: live.dropFirst())
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func metrics() async throws -> Response {
        let text = AgentMetrics.render(queueDepth: await node.queueDepth, running: await node.runningAudits,
                                       resultsStored: try node.store.resultCount(), findings: try node.store.findingCounts(),
                                       hintsPending: try node.store.hintCounts().values.reduce(0, +))
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }

    /// The caller's event stream: only events of projects it may read (and mesh events), the
    /// backlog after `Last-Event-ID` filtered the same way; 429 past the stream caps.
    func events(lastId: Int?, as p: Principal) async throws -> Response {
        let subscription: (backlog: [NodeEvent], stream: AsyncStream<NodeEvent>, id: UUID)
        do { subscription = try await node.events.subscribe(after: lastId, as: p) } catch {
            let which: String
            switch error {
            case .tooManyStreams: which = "this node serves the most event streams it allows (max_event_streams); try again later"
            case .tooManyStreamsForTeam: which = "this team has the most event streams open that a team may (max_event_streams_per_team)"
            case .tooManyStreamsForToken: which = "this token has the most event streams open that a token may (max_event_streams_per_token)"
            }
            throw APIError(.tooManyRequests, "too_many_streams", which)
        }
        let (backlog, stream, id) = subscription
        let bus = node.events
        let body = ResponseBody { writer in
            func frame(_ e: NodeEvent) -> ByteBuffer {
                let data = (try? JSONEncoder().encode(e.data)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                return ByteBuffer(string: "id: \(e.id)\nevent: \(e.type)\ndata: \(data)\n\n")
            }
            do {
                try await writer.write(ByteBuffer(string: ": guardian events\nretry: 2000\n\n"))
                for e in backlog { try await writer.write(frame(e)) }
                for await e in stream {
                    try await writer.write(e.id == 0 ? ByteBuffer(string: ": keepalive\n\n") : frame(e))
                }
            } catch {
                await bus.unsubscribe(id) // the client went away, at any point
                throw error
            }
            await bus.unsubscribe(id)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    static func json(_ value: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func encodable<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try e.encode(value))))
    }
}

struct AnyEncodable: Encodable, Sendable {
    let encodeValue: @Sendable (any Encoder) throws -> Void
    init<T: Encodable & Sendable>(_ v: T) { encodeValue = { try v.encode(to: $0) } }
    func encode(to encoder: any Encoder) throws { try encodeValue(encoder) }
}

enum ISO8601 {
    static func format(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: t))
    }
}

/// Maps every error to `{"error": {"code", "message"}}` with the right status.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = GuardianContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return APIError.json(status: e.status, code: e.code, message: e.message)
        } catch let e as HTTPError {
            let code: String
            switch e.status.code {
            case 404: code = "not_found"
            case 405: code = "method_not_allowed"
            case 413: code = "body_too_large"
            case 400: code = "bad_request"
            default: code = "http_\(e.status.code)"
            }
            let message = e.body ?? (e.status.code == 404 ? "no route \(request.method) \(request.uri.path)" : e.status.reasonPhrase)
            return APIError.json(status: e.status, code: code, message: message)
        } catch let e as InvalidRecord {
            return APIError.json(status: .badRequest, code: "invalid_field", message: e.message)
        } catch let e as RepositoryRefused {
            return APIError.json(status: .badRequest, code: "repository_not_allowed", message: e.message)
        } catch let e as GuardianError {
            return APIError.json(status: .internalServerError, code: "internal", message: e.description)
        } catch is NIOTooManyBytesError {
            return APIError.json(status: .contentTooLarge, code: "body_too_large",
                                 message: "the request body is larger than the limit (max_body_bytes)")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return APIError.json(status: .internalServerError, code: "internal", message: "internal error: \(error)")
        }
    }
}

extension Store {
    func findingCounts() throws -> [String: Int] {
        try read { db in
            var out: [String: Int] = [:]
            let rows = try Row.fetchAll(db, sql: """
                SELECT f.severity, COUNT(*) FROM (SELECT projectId, MAX(createdAt) AS c FROM result GROUP BY projectId) l
                JOIN result r ON r.projectId = l.projectId AND r.createdAt = l.c
                JOIN finding f ON f.resultSeq = r.seq GROUP BY f.severity
                """)
            for r in rows { out[r[0]] = r[1] }
            return out
        }
    }
}

import GRDB

import Synchronization

/// Rendered JSON kept per project (a few hundred entries at most per project count).
final class RenderCache: Sendable {
    private let entries = Mutex<[String: (key: String, bytes: [UInt8])]>([:])
    func get(_ key: String) -> [UInt8]? {
        entries.withLock { e in
            let project = String(key.prefix { $0 != "|" })
            guard let hit = e[project], hit.key == key else { return nil }
            return hit.bytes
        }
    }
    func put(_ key: String, _ bytes: [UInt8], project: String) { entries.withLock { $0[project] = (key, bytes) } }
}

/// Token lookups by hash, remembered until any token is revoked.
final class TokenCache: Sendable {
    private let entries = Mutex<[Data: Principal]>([:])
    func get(_ hash: Data) -> Principal? { entries.withLock { $0[hash] } }
    func put(_ hash: Data, _ p: Principal) { entries.withLock { if $0.count > 10_000 { $0.removeAll() }; $0[hash] = p } }
    func clear() { entries.withLock { $0.removeAll() } }
}
