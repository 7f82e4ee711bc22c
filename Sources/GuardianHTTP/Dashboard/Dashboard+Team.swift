import Foundation
import GuardianCore
import GuardianCrypto
import GuardianNode
import GuardianStore
import Hummingbird
import NIOCore

/// The team page, the public pages of teams that chose `public_dashboard`, the mesh page and the
/// README badge.
extension Dashboard {
    func profile(of team: String) throws -> TeamProfile { try node.store.teamProfile(team) ?? .standard }

    /// Team-level scores over the projects' summaries.
    func teamScores(_ projects: [ProjectRecord], _ summaries: [String: ProjectSummary]) -> [String: Any] {
        let audited = projects.compactMap { summaries[$0.id] }
        var ctx: [String: Any] = ["projectCount": projects.count, "audited": audited.count,
                                  "gatePassing": audited.filter(\.gatePassed).count]
        let avg = audited.isEmpty ? nil : audited.map(\.health).reduce(0, +) / audited.count
        ctx["averageHealth"] = avg.map(String.init) ?? "–"
        ctx["healthBand"] = Self.band(avg)
        ctx["checkAverages"] = Check.allCases.map { c -> [String: Any] in
            let scores = audited.compactMap { $0.checks[c.rawValue] }
            return ["name": c.rawValue, "average": scores.isEmpty ? "–" : String(scores.map(\.score).reduce(0, +) / scores.count),
                    "failed": scores.filter { $0.status == "failed" }.count]
        }
        return ctx
    }

    @Sendable func team(_ request: Request, context: GuardianContext) async throws -> Response {
        await handle(request) {
            let (_, s) = try requireCaller(request)
            let id = try context.parameters.require("id")
            // the same answer for "absent" and "not yours"
            guard s.principal.canRead(team: id) else { throw NodeError(.notFound, "not_found", "no team '\(id.prefix(64))'") }
            let profile = try profile(of: id)
            let projects = try node.store.projects().filter { $0.team == id }
            let summaries = try node.store.summaries()
            var ctx = base("Team \(id)", s, live: "fleet")
            ctx["navTeam"] = true
            ctx["id"] = id
            ctx["profileName"] = profile.name
            ctx["strictness"] = String(format: "%.2f", profile.strictness)
            ctx["focusAreas"] = profile.focusAreas.isEmpty ? "none" : profile.focusAreas.map(\.rawValue).joined(separator: ", ")
            ctx["notificationFrequency"] = profile.notificationFrequency
            ctx["gateSeverity"] = profile.gateSeverity.rawValue
            ctx["publicDashboard"] = profile.publicDashboard
            ctx.merge(teamScores(projects, summaries)) { _, n in n }
            ctx["rows"] = projects.map { row($0, summary: summaries[$0.id], task: nil, linkPrefix: "/ui/projects/") }
            return page("team", ctx, request: request)
        }
    }

    /// `/ui/public/{team}`: read-only, no login, for a team whose profile says `public_dashboard:
    /// true`. It shows the projects' summaries (health, gate, checks, trend) and no finding: a
    /// finding's code may come from a private repository.
    @Sendable func publicTeam(_ request: Request, context: GuardianContext) async throws -> Response {
        await handle(request) {
            let id = try context.parameters.require("team")
            guard Identifier.isValid(id), (try? profile(of: id))?.publicDashboard == true else {
                throw NodeError(.notFound, "not_found", "no public dashboard for team '\(id.prefix(64))'")
            }
            let projects = try node.store.projects().filter { $0.team == id }.sorted { $0.name.lowercased() < $1.name.lowercased() }
            let summaries = try node.store.summaries()
            var ctx = base("Team \(id)", nil)
            ctx["public"] = true
            ctx["publicTeam"] = id
            ctx["heading"] = "Team \(id)"
            ctx["columns"] = (["Project", "Team", "Health"] + Check.allCases.map(\.rawValue) + ["Last audit", "Trend"]).map { ["label": $0] }
            ctx["rowsHtml"] = rowsHTML(projects, summaries: summaries, linkPrefix: "#", live: false)
            ctx["hasRows"] = !projects.isEmpty
            ctx["shown"] = projects.count
            ctx["total"] = projects.count
            return page("fleet", ctx, request: request)
        }
    }

    @Sendable func mesh(_ request: Request, context: GuardianContext) async throws -> Response {
        await handle(request) {
            let (_, s) = try requireCaller(request)
            var ctx = base("Mesh", s, live: "mesh")
            ctx["navMesh"] = true
            let key = node.identity.verifyingKey
            let me = NodeController.member(node)
            // the addresses the mesh announces (bound ports), not the configured ones (which may say :0)
            let announced = await api.mesh?.view().me.meta
            ctx["me"] = ["name": me.name, "id": me.id, "address": announced?.address ?? me.address, "httpAddress": announced?.httpAddress ?? me.httpAddress,
                         "fingerprint": Sodium.hex(Sodium.blake2b(Sodium.base64Decode(key.base64) ?? [], length: 16))]
            ctx["replicationFactor"] = node.config.replicationFactor
            // ownership over the projects this node knows: how many each member owns and leads
            let ring = await api.currentRing()
            var owns: [String: Int] = [:], leads: [String: Int] = [:]
            // ownership over the projects the caller may read; hints (over every team's results) for admins only
            for p in try node.store.projects() where s.principal.canRead(team: p.team) {
                let owners = ring.owners(of: p.id, count: node.config.replicationFactor)
                for o in owners { owns[o, default: 0] += 1 }
                if let first = owners.first { leads[first, default: 0] += 1 }
            }
            let hints = s.principal.isAdmin ? try node.store.hintCounts() : [:]
            let sessions = await api.replication?.sessionHistory() ?? [:]
            var members: [[String: Any]] = []
            if let view = await api.mesh?.view() {
                for m in [view.me] + view.members {
                    let status = m.status.rawValue
                    members.append(["name": m.name, "status": status, "statusClass": status, "symbol": Self.symbol(status),
                                    "rtt": view.rtt[m.name].map { "\($0) ms" } ?? "–", "address": m.meta.address,
                                    "tags": m.meta.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                                    "owns": owns[m.name] ?? 0, "primaryOf": leads[m.name] ?? 0, "hints": s.principal.isAdmin ? String(hints[m.name] ?? 0) : "–",
                                    "lastSync": m.name == node.config.name ? "this node"
                                        : sessions[m.name].map { "\(Self.when($0.at)?.text ?? "") (\($0.outcome))" } ?? "not yet"])
                }
            } else {
                members.append(["name": me.name, "status": "alive", "statusClass": "alive", "symbol": Self.symbol("alive"), "rtt": "–",
                                "address": me.address, "tags": "", "owns": owns[me.name] ?? 0, "primaryOf": leads[me.name] ?? 0,
                                "hints": s.principal.isAdmin ? "0" : "–", "lastSync": "runs alone"])
            }
            ctx["members"] = members
            ctx["memberCount"] = members.count
            return page("mesh", ctx, request: request)
        }
    }

    /// `GET /v1/projects/{id}/badge.svg`: public for a public-dashboard team, else for a caller
    /// (bearer token or dashboard session) that may read the project; 404 for anyone else.
    @Sendable func badge(_ request: Request, context: GuardianContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let project = try node.store.project(id: id) else { throw NodeError.noProject(id) }
        let isPublic = (try? profile(of: project.team))?.publicDashboard == true
        if !isPublic {
            // any failure answers as an absent project: a bad token learns nothing of which ids exist
            let p = caller(request)?.session.principal ?? (try? Auth.authenticate(request, store: node.store, cache: api.tokenCache))
            guard let p, p.canRead(team: project.team) else { throw NodeError.noProject(id) }
        }
        let s = try node.store.summary(project: id)
        var headers = Self.securityHeaders
        headers[.contentType] = "image/svg+xml"
        headers[.cacheControl] = isPublic ? "public, max-age=300" : "private, max-age=60"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: Charts.badge(health: s?.health, gatePassed: s?.gatePassed))))
    }
}
