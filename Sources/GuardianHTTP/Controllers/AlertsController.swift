import Foundation
import GuardianCore
import GuardianCrypto
import GuardianMesh
import GuardianNode
import GuardianStore
import Hummingbird
import NIOCore

/// Alert channels and their history (docs/alerts.md): `/v1/teams/{id}/channels[/{name}[/test]]`
/// and `GET /v1/notifications`. A channel's URL and secret are never in an answer: its host and
/// `hasSecret` are.
struct AlertsController {
    let api: API
    var node: Node { api.node }

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("teams/:id/channels", use: list)
        r.post("teams/:id/channels", use: create)
        r.get("teams/:id/channels/:name", use: show)
        r.patch("teams/:id/channels/:name", use: update)
        r.delete("teams/:id/channels/:name", use: remove)
        r.post("teams/:id/channels/:name/test", use: test)
        r.get("notifications", use: notifications)
        return r
    }

    func view(_ c: AlertChannel) -> ChannelView { ChannelView(c, effectiveFrequency: node.alerts.frequency(c)) }

    /// The team of the path, which the caller may read (`write`: change).
    func team(_ context: GuardianContext, write: Bool) throws -> String {
        let p = try context.caller()
        let team = try context.parameters.require("id")
        guard Identifier.isValid(team) else { throw APIError(.badRequest, "invalid_id", Identifier.message(team, "team")) }
        if write { guard p.canWrite(team: team) else { throw api.forbidden(team) } } else {
            guard p.canRead(team: team) else { throw APIError(.forbidden, "forbidden", "this token may not read team '\(team)'") }
        }
        return team
    }

    /// `write`: the caller means to change, test or remove it; a mesh-wide channel is an admin's.
    func channel(_ context: GuardianContext, team: String, write: Bool = false) throws -> AlertChannel {
        let name = try context.parameters.require("name")
        guard Identifier.isValid(name), let c = try node.registry.channel(id: AlertChannel.id(team: team, name: name)) else {
            throw NodeError(.notFound, "not_found", "team \(team) has no channel '\(name.prefix(60))'")
        }
        if write, c.isMeshWide, try !context.caller().isAdmin {
            throw APIError(.forbidden, "forbidden", "only admin tokens change a channel that receives every team's events")
        }
        return c
    }

    @Sendable func list(_ request: Request, context: GuardianContext) async throws -> Response {
        let team = try team(context, write: false)
        return try API.encodable(["channels": try node.registry.channels(team: team).map(view)])
    }

    @Sendable func show(_ request: Request, context: GuardianContext) async throws -> Response {
        let team = try team(context, write: false)
        return try API.encodable(view(try channel(context, team: team)))
    }

    /// The fields a client sends; `to` as an array or one comma-separated string.
    struct Input: Decodable {
        var name: String?
        var kind: String?
        var url: String?
        var to: [String]?
        var secret: String?
        var events: [String]?
        var minSeverity: String?
        var frequency: String?
        var allTeams: Bool?

        enum Keys: String, CodingKey { case name, kind, url, to, secret, events, minSeverity, frequency, allTeams }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            kind = try c.decodeIfPresent(String.self, forKey: .kind)
            url = try c.decodeIfPresent(String.self, forKey: .url)
            if let list = try? c.decodeIfPresent([String].self, forKey: .to) { to = list } else if let one = try c.decodeIfPresent(String.self, forKey: .to) {
                to = one.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            secret = try c.decodeIfPresent(String.self, forKey: .secret)
            events = try c.decodeIfPresent([String].self, forKey: .events)
            minSeverity = try c.decodeIfPresent(String.self, forKey: .minSeverity)
            frequency = try c.decodeIfPresent(String.self, forKey: .frequency)
            allTeams = try c.decodeIfPresent(Bool.self, forKey: .allTeams)
        }
    }

    /// Checks a channel as this node would send to it, then saves it (the registry checks the rest).
    func save(_ c: AlertChannel) throws {
        if let url = c.url {
            do { try api.alertTargets.checkForm(url) } catch let e as AlertTargets.Refused {
                throw APIError(.badRequest, "refused_target", e.description)
            }
        }
        do { try node.registry.save(channel: c) } catch let e as InvalidRecord {
            throw APIError(.badRequest, "invalid_channel", e.description)
        }
    }

    @Sendable func create(_ request: Request, context: GuardianContext) async throws -> Response {
        let team = try team(context, write: true)
        let input: Input = try await api.decode(request)
        guard let name = input.name else { throw APIError(.badRequest, "missing_field", "'name' is required") }
        guard let kindName = input.kind else { throw APIError(.badRequest, "missing_field", "'kind' is required") }
        guard let kind = AlertChannel.Kind(rawValue: kindName) else {
            throw APIError(.badRequest, "invalid_channel", "kind is slack, discord, email or webhook")
        }
        guard Identifier.isValid(name), !name.contains(".") else {
            throw APIError(.badRequest, "invalid_channel", "a channel's name is an id without '.'")
        }
        guard try node.registry.channel(id: AlertChannel.id(team: team, name: name)) == nil else {
            throw APIError(.conflict, "conflict", "team \(team) already has a channel '\(name)'")
        }
        guard let severity = Severity(rawValue: input.minSeverity ?? "info") else {
            throw APIError(.badRequest, "invalid_channel", "minSeverity is one of critical, high, medium, low, info")
        }
        let now = Date().timeIntervalSince1970
        var c = AlertChannel(team: team, name: name, kind: kind, url: input.url, to: input.to, secret: input.secret,
                             events: input.events ?? AlertChannel.defaultEvents, minSeverity: severity, frequency: nil, createdAt: now, updatedAt: now)
        c.frequency = input.frequency
        if input.allTeams == true {
            guard try context.caller().isAdmin else {
                throw APIError(.forbidden, "forbidden", "only admin tokens make a channel that receives every team's events")
            }
            c.allTeams = true
        }
        try save(c)
        return try API.encodable(view(c), status: .created)
    }

    @Sendable func update(_ request: Request, context: GuardianContext) async throws -> Response {
        let team = try team(context, write: true)
        var c = try channel(context, team: team, write: true)
        let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
        let input: Input
        do { input = try JSONDecoder().decode(Input.self, from: Data(buffer: body)) } catch {
            throw APIError(.badRequest, "invalid_json", "the body is not a channel's fields")
        }
        // a field sent as null is cleared (a secret removed, the frequency back to the team's)
        let present = (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
        if input.name != nil || input.kind != nil { throw APIError(.badRequest, "invalid_channel", "a channel's name and kind stay: make a new channel") }
        if present["url"] != nil { c.url = input.url }
        if present["to"] != nil { c.to = input.to }
        if present["secret"] != nil { c.secret = input.secret }
        if let e = input.events { c.events = e }
        if let s = input.minSeverity { c.minSeverity = s }
        if present["frequency"] != nil { c.frequency = input.frequency }
        if let all = input.allTeams, all != c.isMeshWide {
            guard try context.caller().isAdmin else {
                throw APIError(.forbidden, "forbidden", "only admin tokens make a channel receive every team's events")
            }
            c.allTeams = all ? true : nil
        }
        c.updatedAt = Date().timeIntervalSince1970
        try save(c)
        return try API.encodable(view(c))
    }

    @Sendable func remove(_ request: Request, context: GuardianContext) async throws -> Response {
        let team = try team(context, write: true)
        let c = try channel(context, team: team, write: true)
        try node.registry.deleteChannel(id: c.id)
        return Response(status: .noContent)
    }

    /// Sends a test message now, from this node, and says what the receiver answered.
    @Sendable func test(_ request: Request, context: GuardianContext) async throws -> Response {
        let team = try team(context, write: true)
        let c = try channel(context, team: team, write: true)
        let transport: AlertTransport
        do { transport = try AlertTransport(node.config) } catch {
            throw APIError(.internalServerError, "smtp_settings", "this node's SMTP settings cannot be read: \(error)")
        }
        let delivery = "test-" + Sodium.hex(Sodium.randomBytes(8))
        let context = AlertContext(projectId: "guardian-test", projectName: "Guardian test message", team: team, resultId: nil,
                                   commit: nil, health: nil, link: node.alerts.link(""))
        let event = AlertEvent(kind: .test, project: "guardian-test", summary: "a test of channel \(c.name) from node \(node.config.name)")
        let (outcome, answer) = await transport.send([event], context, deliveryID: delivery, to: c)
        let label = AlertSender.label(outcome)
        return try API.encodable(ChannelTestView(delivery: delivery, outcome: label, delivered: outcome == .delivered, answer: answer))
    }

    /// The history: each message with its state and the receiver's last answer, newest first.
    /// Held by the project's owners; asked with `project` on another node, it comes from an owner.
    @Sendable func notifications(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        let q = request.uri.queryParameters
        let limit = min(max(Int(q["limit"].map(String.init) ?? "") ?? 100, 1), 1000)
        let project = q["project"].map(String.init)
        let state = q["status"].map(String.init)
        if let state, DeliveryState(rawValue: state) == nil {
            throw APIError(.badRequest, "invalid_query", "status is one of \(DeliveryState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let project {
            guard let record = try node.store.project(id: project), p.canRead(team: record.team) else { throw NodeError.noProject(project) }
            if api.mesh != nil, context.forwarded == nil, await !node.owners(of: project).contains(node.config.name) {
                return try await api.askOwners(project: project, method: "GET", path: request.uri.description, as: p).response
            }
        }
        var channels: [String]? = nil
        if let ch = q["channel"].map(String.init) {
            let team = String(ch.split(separator: ".").dropLast().joined(separator: "."))
            guard p.canRead(team: team) else { throw APIError(.forbidden, "forbidden", "this token may not read team '\(team)'") }
            if !p.isAdmin, try node.registry.channel(id: ch)?.isMeshWide == true {
                throw APIError(.forbidden, "forbidden", "only admin tokens read the messages of a channel that receives every team's events")
            }
            channels = [ch]
        } else if !p.isAdmin {
            // a token of no team sees no channel's messages
            // a mesh-wide channel's messages name every team's projects: admins only
            channels = try p.team.map { try node.registry.channels(team: $0).filter { !$0.isMeshWide }.map(\.id) } ?? []
        }
        var before: Int64?
        if let b = q["before"] {
            // seconds since 1970: a number a millisecond count can hold (a huge or NaN one would trap the conversion)
            guard let d = Double(String(b)), d.isFinite, d >= 0, d < 1e12 else {
                throw APIError(.badRequest, "invalid_query", "before is a time in seconds since 1970")
            }
            before = Int64(d * 1000)
        }
        let rows = try node.store.alerts(project: project, channels: channels, state: state, before: before, limit: limit)
        let views = rows.map(NotificationView.init)
        return try API.encodable(["notifications": views])
    }
}

extension API {
    /// Alert rows from a member: at most 1,000, each with an id, a known state and a bounded message.
    static func alertRows(_ request: Request, node: Node) async throws -> [AlertOutboxRow] {
        let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
        let rows: [AlertOutboxRow]
        do { rows = try JSONDecoder().decode([AlertOutboxRow].self, from: Data(buffer: body)) } catch {
            throw APIError(.badRequest, "invalid_json", "the body is not a list of alert messages")
        }
        guard rows.count <= 1_000 else { throw APIError(.contentTooLarge, "too_many", "at most 1,000 messages at once") }
        // times a member sends become millisecond arithmetic here: they must be near now
        let now = Int64(Date().timeIntervalSince1970 * 1000), week: Int64 = 8 * 86_400_000
        func near(_ t: Int64?) -> Bool { t.map { abs($0 - now) <= week } ?? true }
        for r in rows {
            guard Identifier.isValid(r.id), DeliveryState(rawValue: r.state) != nil, r.channel.utf8.count <= 300, (r.payload?.utf8.count ?? 0) <= 65_536,
                  (0...1_000).contains(r.attempts), (r.lastAnswer?.utf8.count ?? 0) <= 1_000, near(r.createdAt), near(r.updatedAt), near(r.nextAttemptAt) else {
                throw APIError(.badRequest, "invalid_record", "an alert message with an id, a known state, times within a week of now and a message of at most 64 KiB")
            }
            if r.state == DeliveryState.held.rawValue {
                // a held event is due at the end of its digest period
                guard let period = r.digest.flatMap(DigestPeriod.init(rawValue:)), let end = r.nextAttemptAt,
                      period.start(containing: end - 1) + period.length == end else {
                    throw APIError(.badRequest, "invalid_record", "a held event names its digest period and is due at the period's end")
                }
            }
        }
        return rows
    }

    /// A member's own claim (no token, no forwarded caller): the only caller of the owners' routes.
    static func requireMember(_ context: GuardianContext, _ what: String) throws {
        guard let claim = context.forwarded, claim.caller == .member else {
            throw APIError(.unauthorized, "unauthorized", "only a member of this mesh \(what)")
        }
    }

    static let alertFinalsPath = "/v1/alerts/finals"
    static let alertHeldPath = "/v1/alerts/held"
    static let alertRowsPath = "/v1/alerts/rows"

    var alertTargets: AlertTargets { AlertTargets(allowPrivate: node.config.alertAllowPrivateTargets) }

    /// `POST /v1/alerts/finals`: an owner's final delivery records, from a member on its own behalf
    /// (a `member` claim); nothing else may call it.
    func registerAlertFinals(on router: Router<GuardianContext>) {
        router.post(RouterPath(Self.alertFinalsPath)) { request, context -> Response in
            try Self.requireMember(context, "sends delivery records")
            let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
            let finals: [AlertFinalRecord]
            do { finals = try JSONDecoder().decode([AlertFinalRecord].self, from: Data(buffer: body)) } catch {
                throw APIError(.badRequest, "invalid_json", "the body is not a list of delivery records")
            }
            guard finals.count <= 1_000 else { throw APIError(.contentTooLarge, "too_many", "at most 1,000 records at once") }
            try node.store.apply(finals: finals)
            return Response(status: .noContent)
        }
        // messages another owner raised from a result it stored first (or a failed audit, a member's failure)
        router.post(RouterPath(Self.alertRowsPath)) { request, context -> Response in
            try Self.requireMember(context, "shares alert messages")
            let rows = try await Self.alertRows(request, node: node)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try node.store.insert(alerts: rows.map { r in
                var r = r
                r.sharedAt = now // this node does not share it again
                r.forwardedAt = nil
                if r.finishedBy != nil && !["sent", "dead"].contains(r.state) { r.finishedBy = nil }
                return r
            })
            return Response(status: .noContent)
        }
        // events held for a digest, from the project's owner that raised them, for this channel owner
        router.post(RouterPath(Self.alertHeldPath)) { request, context -> Response in
            try Self.requireMember(context, "forwards held events")
            let rows = try await Self.alertRows(request, node: node)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let held = try rows.map { r -> AlertOutboxRow in
                guard r.state == DeliveryState.held.rawValue else {
                    throw APIError(.badRequest, "invalid_record", "a held event has state held, a digest period and its end")
                }
                var r = r
                r.forwardedAt = now // this node does not forward it again
                r.sharedAt = now
                r.attempts = 0; r.lastAnswer = nil; r.finishedBy = nil
                return r
            }
            try node.store.insert(alerts: held)
            return Response(status: .noContent)
        }
    }
}
