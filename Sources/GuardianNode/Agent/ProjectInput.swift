import Foundation

/// What an API client sends to register a project.
public struct ProjectInput: Codable, Sendable {
    public var name: String?
    public var repositoryUrl: String?
    public var team: String?
    public var branch: String?
    /// Seconds between scheduled audits (0 disables the schedule).
    public var scheduleSeconds: Int?
    public var profile: String?
    public var webhookSecret: String?
    public var credentials: String?
    /// Where pull request results are written back (docs/pull-requests.md).
    public var codeHost: CodeHostInput?
    /// At registration: make the project's webhook on its code host (needs `public_url` and a token).
    public var createWebhook: Bool?
}
