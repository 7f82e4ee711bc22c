import Foundation

/// An audit task: queued, running with progress, then succeeded or failed.
public struct AuditTask: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case queued, running, succeeded, failed }
    public enum Reason: String, Codable, Sendable { case registration, schedule, webhook, manual, pullRequest }
    public var id: String
    public var projectId: String
    public var reason: Reason
    public var revision: String?
    public var state: State
    public var phase: String
    public var progress: Double
    public var queuedAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var resultId: String?
    public var error: String?
    /// The shards of a sharded audit: who analysed each, who failed first, how long it took.
    public var shards: [ShardRun]?
    /// A pull request's audit: its head against the merge base with its target branch.
    public var pullRequest: PullRequestTask?

    var priority: Int {
        switch reason {
        case .webhook, .pullRequest: 3
        case .manual: 2
        case .registration: 1
        case .schedule: 0
        }
    }
}
