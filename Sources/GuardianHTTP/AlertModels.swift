import Foundation
import GuardianCore
import GuardianMesh
import GuardianNode
import GuardianStore

// The alert API's bodies (docs/openapi.yaml), decoded by `guardian channels` and `guardian notifications`.

/// A channel as the API shows it: its URL and secret never, its host and whether a secret is set.
public struct ChannelView: Codable, Sendable, Equatable {
    public var id, team, name, kind: String
    public var host: String?
    public var to: [String]?
    public var hasSecret: Bool
    public var events: [String]
    public var minSeverity: String
    public var frequency: String?
    /// The frequency it sends at: its own, else the team profile's.
    public var effectiveFrequency: String
    public var allTeams: Bool
    public var createdAt, updatedAt: Double

    public init(_ c: AlertChannel, effectiveFrequency: AlertChannel.Frequency) {
        id = c.id; team = c.team; name = c.name; kind = c.kind; host = c.host; to = c.to; hasSecret = c.secret != nil
        events = c.events; minSeverity = c.minSeverity; frequency = c.frequency; self.effectiveFrequency = effectiveFrequency.rawValue
        allTeams = c.isMeshWide; createdAt = c.createdAt; updatedAt = c.updatedAt
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(team, forKey: .team); try c.encode(name, forKey: .name); try c.encode(kind, forKey: .kind)
        try c.encodeOrNull(host, forKey: .host); try c.encodeOrNull(to, forKey: .to); try c.encode(hasSecret, forKey: .hasSecret)
        try c.encode(events, forKey: .events); try c.encode(minSeverity, forKey: .minSeverity); try c.encodeOrNull(frequency, forKey: .frequency)
        try c.encode(effectiveFrequency, forKey: .effectiveFrequency); try c.encode(allTeams, forKey: .allTeams)
        try c.encode(createdAt, forKey: .createdAt); try c.encode(updatedAt, forKey: .updatedAt)
    }
}

/// One message of the history, with its state and the receiver's last answer. Times in seconds.
public struct NotificationView: Codable, Sendable, Equatable {
    public struct Event: Codable, Sendable, Equatable {
        public var kind, subject, summary: String
        public var severity: String?
    }
    public var delivery: String
    public var project: String?
    public var channel: String
    public var resultId: String?
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: Double?
    public var lastAnswer: String?
    public var createdAt: Double
    public var updatedAt: Double
    public var finishedBy: String?
    public var events: [Event]

    public init(_ r: AlertOutboxRow) {
        delivery = r.id; project = r.projectId; channel = r.channel; resultId = r.resultId; state = r.state; attempts = r.attempts
        nextAttemptAt = r.nextAttemptAt.map { Double($0) / 1000 }; lastAnswer = r.lastAnswer
        createdAt = Double(r.createdAt) / 1000; updatedAt = Double(r.updatedAt) / 1000; finishedBy = r.finishedBy
        events = (AlertPayload.decode(r.payload)?.events ?? []).map {
            Event(kind: $0.kind.rawValue, subject: $0.subject, summary: $0.summary, severity: $0.severity?.rawValue)
        }
    }
}

/// What `POST …/channels/{name}/test` answers.
public struct ChannelTestView: Codable, Sendable, Equatable {
    public var delivery: String
    /// `delivered`, `retry` or `rejected`.
    public var outcome: String
    public var delivered: Bool
    /// The receiver's answer: an HTTP status and the start of its body, or the SMTP server's reply.
    public var answer: String
}
