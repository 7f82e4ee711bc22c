import GuardianNode
import GuardianStore
import Foundation
import GuardianCore
import GuardianCrypto
import Hummingbird

/// Projects: register, list, show, change, remove; their owners, audit status, audits and findings.
/// A read of a project's results goes to an owner when this node is not one (`forwardIfNotOwner`).
struct ProjectsController {
    let api: API
    var node: Node { api.node }

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.post("projects", use: create)
        r.get("projects", use: list)
        r.get("projects/:id", use: show)
        r.patch("projects/:id", use: update)
        r.delete("projects/:id", use: remove)
        r.get("projects/:id/owners", use: owners)
        r.get("projects/:id/audit-status", use: auditStatus)
        r.post("projects/:id/audits", use: audit)
        r.get("projects/:id/findings", use: findings)
        return r
    }

    @Sendable func create(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        var input: ProjectInput = try await api.decode(request)
        let team = input.team ?? "default"
        guard p.canWrite(team: team) else { throw api.forbidden(team) }
        try checkCodeHost(input)
        // every project gets a webhook secret: one the node makes is shown once, in this answer
        var made: String?
        if input.webhookSecret?.isEmpty ?? true {
            made = Sodium.hex(Sodium.randomBytes(32))
            input.webhookSecret = made
        }
        let record = try await node.register(input, admin: p.isAdmin)
        var shown = view(record)
        shown.webhookSecret = made
        if input.createWebhook == true { shown.webhook = await createWebhook(record, url: shown.webhookUrl, secret: input.webhookSecret ?? "") }
        return try API.encodable(shown, status: .created)
    }

    /// The project's webhook made on its code host (`createWebhook`), pointing at `public_url`.
    func createWebhook(_ project: ProjectRecord, url path: String, secret: String) async -> WebhookSetup {
        guard let url = node.alerts.address(path) else {
            return WebhookSetup(url: path, created: false, answer: "set public_url (the address the code host reaches this node at) to create the webhook")
        }
        guard let host = node.codeHost(of: project) else { return WebhookSetup(url: url, created: false, answer: "the project has no codeHost") }
        return await CodeHostWebhooks(host: host, targets: AlertTargets(allowPrivate: node.config.alertAllowPrivateTargets)).create(url: url, secret: secret)
    }

    /// A project as answers show it, with its code host settings (never the token).
    func view(_ p: ProjectRecord) -> ProjectView { ProjectView(p, codeHost: node.codeHost(of: p)) }

    /// A code host API URL points where alert channels may (checked again before every call).
    func checkCodeHost(_ input: ProjectInput) throws {
        guard let url = input.codeHost?.apiUrl else { return }
        do { try AlertTargets(allowPrivate: node.config.alertAllowPrivateTargets).checkForm(url) } catch {
            throw APIError(.badRequest, "invalid_code_host", "codeHost.apiUrl: \(error)")
        }
    }

    @Sendable func list(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        let list = try node.store.projects().filter { p.canRead(team: $0.team) }
        return try API.encodable(Items(list.map(view)))
    }

    @Sendable func show(_ request: Request, context: GuardianContext) async throws -> Response {
        let project = try api.readable(context).1
        return try API.encodable(view(project))
    }

    @Sendable func update(_ request: Request, context: GuardianContext) async throws -> Response {
        let (p, project) = try api.writable(context)
        let input: ProjectInput = try await api.decode(request)
        try checkCodeHost(input)
        let updated = try node.applying(input, to: project) { team in
            guard p.canWrite(team: team) else { throw api.forbidden(team) }
        }
        if input.repositoryUrl != nil { throw APIError(.badRequest, "immutable_field", "repositoryUrl cannot change; register a new project") }
        try node.registry.update(project: updated)
        return try API.encodable(view(updated))
    }

    @Sendable func remove(_ request: Request, context: GuardianContext) async throws -> Response {
        try await node.deleteProject(api.writable(context).1.id)
        return Response(status: .noContent)
    }

    @Sendable func owners(_ request: Request, context: GuardianContext) async throws -> Response {
        try API.encodable(await api.owners(of: api.readable(context).1.id))
    }

    @Sendable func auditStatus(_ request: Request, context: GuardianContext) async throws -> Response {
        let (p, project) = try api.readable(context)
        if let forwarded = try await api.forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
        return try api.auditStatus(project)
    }

    @Sendable func audit(_ request: Request, context: GuardianContext) async throws -> Response {
        let (p, project) = try api.writable(context)
        if let forwarded = try await api.forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
        let task = try await node.enqueue(project: project.id, reason: .manual, revision: request.uri.queryParameters.get("rev"))
        return try API.encodable(AuditAccepted(taskId: task.id, state: task.state.rawValue, statusUrl: "/v1/audits/\(task.id)"),
                                 status: .accepted)
    }

    @Sendable func findings(_ request: Request, context: GuardianContext) async throws -> Response {
        let (p, project) = try api.readable(context)
        if let forwarded = try await api.forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
        guard let latest = try node.store.latestResultSummary(project: project.id) else { return try API.encodable(Items([String]())) }
        let q = request.uri.queryParameters
        let check = q.get("check"), severity = q.get("severity")
        if let c = check, Check(rawValue: c) == nil { throw APIError(.badRequest, "invalid_check", "unknown check '\(c)'") }
        if let s = severity, Severity(rawValue: s) == nil { throw APIError(.badRequest, "invalid_severity", "unknown severity '\(s)'") }
        let onlyNew = q.get("new").map { $0 == "1" || $0 == "true" } ?? false
        let rows = try node.store.findings(result: latest.id, check: check, severity: severity, onlyNew: onlyNew,
                                           limit: min(q.get("limit", as: Int.self) ?? 1000, 10_000))
        return try API.encodable(FindingsPage(resultId: latest.id, items: rows))
    }
}

/// `GET /v1/projects/{id}/findings`: the findings of the latest result.
struct FindingsPage<Row: Encodable & Sendable>: Encodable, Sendable {
    var resultId: String
    var items: [Row]
}
