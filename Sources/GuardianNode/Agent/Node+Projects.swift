import Dispatch
import Foundation
import GuardianStore
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Synchronization

/// Projects: registration, changes, secrets and removal.
extension Node {

    /// Registers a project. `admin`: the caller holds an admin token (only admins register local
    /// repositories); the repository policy is checked before anything is stored.
    public func register(_ input: ProjectInput, admin: Bool) async throws -> ProjectRecord {
        guard let url = input.repositoryUrl?.trimmingCharacters(in: .whitespaces), !url.isEmpty else {
            throw NodeError(.invalid, "missing_field", "repositoryUrl is required (a URL or a local path)")
        }
        if let p = FieldLimits.problem(url, "repositoryUrl", max: FieldLimits.url) { throw InvalidRecord(p) }
        try policy.check(url, admin: admin)
        let profile = input.profile ?? "default"
        if TeamProfile.builtIn[profile] == nil { throw NodeError(.invalid, "invalid_profile", "unknown profile '\(profile)'") }
        if let s = input.scheduleSeconds, s < 0 { throw NodeError(.invalid, "invalid_schedule", "scheduleSeconds must be ≥ 0") }
        try Node.checkSecrets(input)
        let name = input.name ?? Node.defaultName(url)
        let now = Date().timeIntervalSince1970
        let schedule = input.scheduleSeconds ?? config.defaultScheduleSeconds
        var record = ProjectRecord(
            id: Node.slug(name) + "-" + Sodium.hex(Sodium.randomBytes(3)), name: name, repositoryUrl: url,
            team: input.team ?? "default", branch: input.branch, scheduleSeconds: schedule, profile: profile,
            webhookSecret: input.webhookSecret.flatMap { $0.isEmpty ? nil : seal($0) }, credentials: input.credentials.map(seal),
            createdAt: now, updatedAt: now, lastAuditAt: nil, nextAuditAt: schedule > 0 ? now + Double(schedule) : nil)
        if let h = input.codeHost { record.codeHost = try codeHost(h, over: nil, repositoryUrl: url).map(sealed) }
        // the network last, once everything local is right
        if case .remote? = RepositoryPolicy.locate(url) { try await checkAccess(url, credentials: input.credentials) }
        do { try registry.insert(project: record) } catch let c as StoreConflict {
            throw NodeError(.conflict, "project_exists", "a project with this repository and branch is already registered (\(c.message))")
        }
        await events.publish("project.registered", ["project": record.id, "name": record.name])
        // In a mesh the primary audits it, here or when the registration reaches it.
        if await isPrimary(record.id) { _ = try enqueue(project: record.id, reason: .registration, revision: nil) }
        return record
    }

    /// Whether the node can read a remote repository with the registration's credentials (`git
    /// ls-remote`, nothing fetched), on a thread of its own and answered within 20 s
    /// (`BlockingCall`). The answer says whether the credentials were refused, as a failed fetch
    /// does; anything else is one sentence whatever happened. The reason goes to the log, without
    /// a login the URL may carry.
    nonisolated func checkAccess(_ url: String, credentials: String?) async throws {
        let login = credentials.flatMap(GitCredentials.init(parsing:))
        do {
            _ = try await BlockingCall.run(seconds: 20, "repository check") { try Mirror.listRemote(url: url, credentials: login) }
        } catch let refused as CredentialsRefused {
            throw NodeError(.invalid, "repository_unreadable", "cannot read \(url): \(refused)")
        } catch let busy as BlockingCall.Busy {
            throw NodeError(.unavailable, "busy", "\(busy)")
        } catch {
            logger.info("registration: the repository could not be read", metadata: ["url": "\(RepositoryPolicy.withoutLogin(url))",
                                                                                  "error": "\("\(error)".replacingOccurrences(of: url, with: RepositoryPolicy.withoutLogin(url)))"])
            throw NodeError(.invalid, "repository_unreadable",
                            "cannot read \(url): the repository could not be read (not found, unreachable, not a git repository, or it needs credentials)")
        }
    }

    /// Project secrets are bounded like every other field (they are sealed before they are stored,
    /// so the registry's rules cannot see them).
    static func checkSecrets(_ input: ProjectInput) throws {
        for (value, field) in [(input.webhookSecret, "webhookSecret"), (input.credentials, "credentials")] {
            if let value, let p = FieldLimits.problem(value, field, max: FieldLimits.secret) { throw InvalidRecord(p) }
        }
    }

    static func defaultName(_ url: String) -> String {
        var last = url.split(separator: "/").last.map(String.init) ?? url
        if last.hasSuffix(".git") { last = String(last.dropLast(4)) }
        return last.isEmpty ? "project" : String(last.prefix(100))
    }

    /// An id-safe form of a name: ASCII letters and digits, '-' for anything else, at most 40.
    static func slug(_ s: String) -> String {
        let allowed = s.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" }
        let slug = String(allowed).split(separator: "-").joined(separator: "-")
        return slug.isEmpty ? "project" : String(slug.prefix(40))
    }

    /// Seals a project secret (webhook secret, repository credentials) for storage.
    nonisolated func seal(_ secret: String) -> Data { Data(secrets.seal(Array(secret.utf8))) }

    /// The project's repository credentials, decrypted for one fetch. A sealed value that no longer
    /// opens (secret.key replaced) is an error that says so rather than an anonymous fetch.
    func credentials(of project: ProjectRecord) throws -> GitCredentials? {
        guard let sealed = project.credentials else { return nil }
        guard let plain = unseal(sealed) else {
            throw GuardianError.io("the credentials of \(project.id) cannot be decrypted with this node's secret.key; set them again with PATCH")
        }
        return GitCredentials(parsing: plain)
    }

    public func webhookSecret(of project: ProjectRecord) -> String? { project.webhookSecret.flatMap(unseal) }

    /// The project's code host settings with their token, or nil (none set, or sealed under
    /// another secret.key).
    public nonisolated func codeHost(of project: ProjectRecord) -> CodeHost? {
        project.codeHost.flatMap(unseal).flatMap { try? JSONDecoder().decode(CodeHost.self, from: Data($0.utf8)) }
    }

    /// Settings from an input over the current ones (at registration: those detected from the
    /// repository URL), checked; nil when the input removes them.
    nonisolated func codeHost(_ input: CodeHostInput, over current: CodeHost?, repositoryUrl: String) throws -> CodeHost? {
        if input.provider == "none" { return nil }
        let detected = CodeHost.detect(repositoryUrl: repositoryUrl)
        var h = current ?? detected ?? CodeHost(provider: .github, apiUrl: "", repository: "")
        if let p = input.provider {
            guard let provider = CodeHost.Provider(rawValue: p) else {
                throw NodeError(.invalid, "invalid_code_host", "codeHost.provider must be github, gitlab, bitbucket, azure or none")
            }
            if provider != h.provider {
                // another provider than the URL's: its API and repository must be named
                h = detected?.provider == provider ? detected! : CodeHost(provider: provider, apiUrl: "", repository: "", token: h.token)
            }
        }
        if let a = input.apiUrl { h.apiUrl = a }
        if let r = input.repository { h.repository = r }
        // the token goes only where it was given for: a new API (or provider) needs it given again,
        // else a team's writer could point the API at a server of theirs and receive it
        if let current, current.token != nil, input.token == nil, current.apiUrl != h.apiUrl || current.provider != h.provider {
            throw NodeError(.invalid, "token_required", "changing codeHost.apiUrl or provider needs codeHost.token in the same request")
        }
        if let t = input.token { h.token = t.isEmpty ? nil : t }
        if let n = input.reviewComments { h.reviewComments = n }
        if h.apiUrl.isEmpty || h.repository.isEmpty {
            throw NodeError(.invalid, "invalid_code_host", "codeHost needs apiUrl and repository for a repository that is not on github.com, gitlab.com, bitbucket.org or dev.azure.com")
        }
        if let problem = h.problem() { throw NodeError(.invalid, "invalid_code_host", problem) }
        // replicas check the sealed value as a project secret: refuse here what they would refuse
        if let json = try? JSONEncoder().encode(h), json.count > FieldLimits.secret {
            throw NodeError(.invalid, "invalid_code_host", "codeHost is longer than \(FieldLimits.secret) bytes")
        }
        return h
    }

    nonisolated func sealed(_ h: CodeHost) -> Data {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return seal(String(decoding: (try? e.encode(h)) ?? Data(), as: UTF8.self))
    }

    /// The inverse of `seal`; nil when the value does not open with this node's secret.key.
    nonisolated func unseal(_ sealed: Data) -> String? {
        (try? secrets.open([UInt8](sealed))).map { String(decoding: $0, as: UTF8.self) }
    }

    public func deleteProject(_ id: String) async throws {
        let team = try store.project(id: id)?.team
        guard try registry.deleteProject(id: id) else { throw NodeError.noProject(id) }
        removeRepositories(of: id)
        await events.publish("project.removed", ["project": id], team: team)
    }

    /// Removes a project's mirror and the objects peers sent for its shards.
    nonisolated func removeRepositories(of project: String) {
        // an id that is not a name names no folder of this node's: there is nothing to remove
        guard let paths = try? [dataDir.mirror(project), dataDir.peerObjects(project)] else { return }
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
    }

    /// A project with the changes of a `PATCH` applied, checked in this order: schedule, profile,
    /// the move to another team (`mayMove`, the caller's right, which the HTTP layer knows), the
    /// secrets. Secrets rotate: a new value replaces the old one, an empty string removes it.
    public nonisolated func applying(_ input: ProjectInput, to project: ProjectRecord, now: Double = Date().timeIntervalSince1970,
                              mayMove: (String) throws -> Void) throws -> ProjectRecord {
        var updated = project
        if let n = input.name { updated.name = n }
        if let b = input.branch { updated.branch = b }
        if let s = input.scheduleSeconds {
            guard s >= 0 else { throw NodeError(.invalid, "invalid_schedule", "scheduleSeconds must be ≥ 0") }
            updated.scheduleSeconds = s
            updated.nextAuditAt = s > 0 ? now + Double(s) : nil
        }
        if let pr = input.profile {
            guard TeamProfile.builtIn[pr] != nil else { throw NodeError(.invalid, "invalid_profile", "unknown profile '\(pr)'") }
            updated.profile = pr
        }
        if let t = input.team {
            try mayMove(t)
            updated.team = t
        }
        try Node.checkSecrets(input)
        if let w = input.webhookSecret { updated.webhookSecret = w.isEmpty ? nil : seal(w) }
        if let c = input.credentials { updated.credentials = c.isEmpty ? nil : seal(c) }
        if let h = input.codeHost { updated.codeHost = try codeHost(h, over: codeHost(of: project), repositoryUrl: updated.repositoryUrl).map(sealed) }
        updated.updatedAt = now
        return updated
    }
}
