import GuardianCore

/// A record that breaks the registry's rules: an id that is not a name, a field that is too long
/// or holds control characters. Refused whole wherever it comes from (the API, a peer, a bundle).
public struct InvalidRecord: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What every registry record must satisfy before it is stored: ids in the one grammar
/// (`Identifier`), free text within `FieldLimits`. Checked on local writes and on every merge.
enum RegistryRules {
    static func check(_ value: String, _ field: String, max: Int) throws {
        if let p = FieldLimits.problem(value, field, max: max) { throw InvalidRecord(p) }
    }

    static func id(_ s: String, _ what: String) throws {
        guard Identifier.isValid(s) else { throw InvalidRecord(Identifier.message(s, what)) }
    }

    static func project(id: String, name: String, repositoryUrl: String, team: String, branch: String?, profile: String,
                        scheduleSeconds: Int, secrets: [String?] = []) throws {
        try self.id(id, "project id")
        try self.id(team, "team")
        try self.id(profile, "profile")
        try check(name, "name", max: FieldLimits.name)
        guard !repositoryUrl.isEmpty else { throw InvalidRecord("repositoryUrl is empty") }
        try check(repositoryUrl, "repositoryUrl", max: FieldLimits.url)
        if let branch { try check(branch, "branch", max: FieldLimits.branch) }
        guard scheduleSeconds >= 0 else { throw InvalidRecord("scheduleSeconds must be ≥ 0") }
        for s in secrets { if let s { try check(s, "a project secret", max: FieldLimits.secret) } }
    }

    static func token(_ t: TokenRecord) throws {
        try id(t.id, "token id")
        if let team = t.team { try id(team, "team") }
        guard TokenRole(rawValue: t.role) != nil else {
            throw InvalidRecord("token role '\(t.role.prefix(20))' is not admin, maintainer or viewer")
        }
        guard t.role == TokenRole.admin.rawValue || t.team != nil else { throw InvalidRecord("a \(t.role) token needs a team") }
        guard t.hash.count == 32 else { throw InvalidRecord("a token hash is 32 bytes") }
        try check(t.name, "token name", max: FieldLimits.name)
    }

    static func team(_ t: TeamRecord) throws { try id(t.id, "team") }

    /// A summary's time may run ahead of this node's clock by at most `maxAhead` seconds: one from
    /// further ahead would keep every later summary of the project from replacing it.
    static let summaryMaxAhead: Double = 300

    static func summary(_ s: ProjectSummary, now: Double) throws {
        try id(s.id, "project id")
        guard s.createdAt.isFinite, s.createdAt <= now + summaryMaxAhead else {
            throw InvalidRecord("a summary's time is more than \(Int(summaryMaxAhead)) s ahead of this node's clock")
        }
        try check(s.resultId, "resultId", max: FieldLimits.name)
        try check(s.signer, "signer", max: FieldLimits.name)
        if let c = s.commit { try check(c, "commit", max: FieldLimits.name) }
        guard (0...100).contains(s.health), s.trend.count <= ProjectSummary.trendLength, s.trend.allSatisfy({ (0...100).contains($0) }) else {
            throw InvalidRecord("a summary's health and trend are scores from 0 to 100, at most \(ProjectSummary.trendLength)")
        }
        guard s.checks.count <= Check.allCases.count else { throw InvalidRecord("a summary has at most \(Check.allCases.count) checks") }
        for (name, c) in s.checks {
            guard Check(rawValue: name) != nil, CheckStatus(rawValue: c.status) != nil, (0...100).contains(c.score), c.findings >= 0 else {
                throw InvalidRecord("a summary's check '\(name.prefix(20))' is not a check with a status and a score")
            }
        }
    }
}

/// What a token may do: an admin anything, a maintainer change its team, a viewer read it.
public enum TokenRole: String, Sendable, Codable { case admin, maintainer, viewer }
