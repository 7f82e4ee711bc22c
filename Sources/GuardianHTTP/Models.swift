import GuardianNode
import Foundation
import GuardianStore
import GuardianCore
import GuardianCrypto
import GuardianMesh

// The API's request and response bodies (docs/openapi.yaml). Public so that clients decode the
// same types the server encodes. An optional field the API documents as nullable is written as
// `null`, never left out.

/// A registered project as the API shows it: secrets only as "is one set".
public struct ProjectView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var repositoryUrl: String
    public var team: String
    public var branch: String?
    public var scheduleSeconds: Int
    public var profile: String
    public var createdAt: Double
    public var lastAuditAt: Double?
    public var nextAuditAt: Double?
    public var hasWebhookSecret: Bool
    public var hasCredentials: Bool
    /// The path the project's code host posts its webhooks to: the provider of `codeHost`, else
    /// the one the repository URL names, else GitHub's.
    public var webhookUrl: String
    public var codeHost: CodeHostView?
    /// Only in the registration's answer: the webhook secret the node made (none was given),
    /// shown this once, and the webhook made on the code host (`createWebhook`).
    public var webhookSecret: String?
    public var webhook: WebhookSetup?

    /// A project's code host settings as answers show them: the token only as whether there is one.
    public struct CodeHostView: Codable, Sendable, Equatable {
        public var provider: String
        public var apiUrl: String
        public var repository: String
        public var hasToken: Bool
        public var reviewComments: Int
    }

    public init(_ p: ProjectRecord, codeHost: CodeHost? = nil) {
        id = p.id; name = p.name; repositoryUrl = p.repositoryUrl; team = p.team; branch = p.branch
        scheduleSeconds = p.scheduleSeconds; profile = p.profile; createdAt = p.createdAt
        lastAuditAt = p.lastAuditAt; nextAuditAt = p.nextAuditAt
        hasWebhookSecret = p.webhookSecret != nil; hasCredentials = p.credentials != nil
        let provider = codeHost?.provider ?? CodeHost.provider(ofRepositoryUrl: p.repositoryUrl) ?? .github
        webhookUrl = "/v1/hooks/\(provider.rawValue)/\(p.id)"
        self.codeHost = codeHost.map {
            CodeHostView(provider: $0.provider.rawValue, apiUrl: $0.apiUrl, repository: $0.repository, hasToken: $0.token?.isEmpty == false,
                         reviewComments: $0.reviewCommentLimit)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(name, forKey: .name)
        try c.encode(repositoryUrl, forKey: .repositoryUrl); try c.encode(team, forKey: .team)
        try c.encodeOrNull(branch, forKey: .branch); try c.encode(scheduleSeconds, forKey: .scheduleSeconds)
        try c.encode(profile, forKey: .profile); try c.encode(createdAt, forKey: .createdAt)
        try c.encodeOrNull(lastAuditAt, forKey: .lastAuditAt); try c.encodeOrNull(nextAuditAt, forKey: .nextAuditAt)
        try c.encode(hasWebhookSecret, forKey: .hasWebhookSecret); try c.encode(hasCredentials, forKey: .hasCredentials)
        try c.encode(webhookUrl, forKey: .webhookUrl); try c.encodeOrNull(codeHost, forKey: .codeHost)
        try c.encodeIfPresent(webhookSecret, forKey: .webhookSecret); try c.encodeIfPresent(webhook, forKey: .webhook)
    }
}

/// `createWebhook`'s outcome: where the host will post, whether the hook was made, and what the
/// host answered.
public struct WebhookSetup: Codable, Sendable, Equatable {
    public var url: String
    public var created: Bool
    public var answer: String
}

/// A page of items.
public struct Items<T: Codable & Sendable>: Codable, Sendable {
    public var items: [T]
    public init(_ items: [T]) { self.items = items }
}

/// One member of the mesh as this node sees it.
public struct MemberView: Codable, Sendable, Equatable {
    public var name: String
    public var id: String
    public var address: String
    public var httpAddress: String
    public var status: String
    public var incarnation: UInt64
    public var tags: [String: String]
    public var version: String
    /// Round-trip time in milliseconds; null before the first probe answered.
    public var rtt: Millis?
    /// Ed25519 public key (base64); given for a node that runs alone.
    public var publicKey: String?

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(id, forKey: .id); try c.encode(address, forKey: .address)
        try c.encode(httpAddress, forKey: .httpAddress); try c.encode(status, forKey: .status)
        try c.encode(incarnation, forKey: .incarnation); try c.encode(tags, forKey: .tags); try c.encode(version, forKey: .version)
        try c.encodeOrNull(rtt, forKey: .rtt); try c.encodeIfPresent(publicKey, forKey: .publicKey)
    }
}

public struct MembersView: Codable, Sendable {
    public var members: [MemberView]
    /// A digest of the membership view: equal on two nodes when they agree.
    public var digest: String
}

/// `GET /v1/node`: this node's identity and load.
public struct NodeInfo: Codable, Sendable {
    public var name: String
    public var id: String
    public var address: String
    public var httpAddress: String
    public var status: String
    public var incarnation: UInt64
    public var tags: [String: String]
    public var publicKey: String
    public var version: String
    public var uptimeSeconds: Int
    public var queueDepth: Int
    public var runningAudits: Int
    public var results: Int
}

/// `GET /v1/ring`.
public struct RingView: Codable, Sendable {
    public struct Node: Codable, Sendable {
        public var name: String
        public var capacity: Int
        public var share: Double
    }
    public var replicationFactor: Int
    public var vnodesPerCapacity: Int
    public var nodes: [Node]
}

/// The owners of a key on the ring, primary first.
public struct OwnersView: Codable, Sendable {
    public var key: String?
    public var owners: [String]
    public var primary: String?

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(key, forKey: .key); try c.encode(owners, forKey: .owners); try c.encodeOrNull(primary, forKey: .primary)
    }
}

/// The keyring's key ids.
public struct KeysView: Codable, Sendable {
    public var primary: String
    public var keys: [String]
}

/// `POST /v1/projects/{id}/audits` answers with the queued task.
public struct AuditAccepted: Codable, Sendable {
    public var taskId: String
    public var state: String
    public var statusUrl: String
}

/// `POST /v1/tokens` answers with the secret, shown once.
public struct TokenCreated: Codable, Sendable {
    public var id: String
    public var token: String
    public var role: String
    public var team: String
}

/// `POST /v1/verify`: whether an envelope verifies against the keys this node trusts.
public struct VerifyView: Codable, Sendable {
    public var valid: Bool
    public var reason: String?
    public var record: String?
    public var signers: [String]?
    public var repository: String?
    public var commit: String?
    public var overallHealthScore: Int?
}

/// A team's profile.
public struct TokenView: Codable, Sendable {
    public var id: String
    public var role: String
    public var team: String
    public var name: String
    public var createdAt: Double
}

public struct TokenList: Codable, Sendable {
    public var tokens: [TokenView]
}

public struct TeamView: Encodable, Sendable {
    public var id: String
    public var profile: TeamProfile
}

extension KeyedEncodingContainer {
    /// Writes `null` for nil: the API's nullable fields are always present.
    mutating func encodeOrNull<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
}

/// `GET /v1/projects/{id}/audit-status` as the CLI reads it: the fields it shows. The server writes
/// this answer from its render cache (`API.auditStatus`), which the OpenAPI test checks against
/// `ProjectAuditStatus`; `CLIClientTests` decodes it from a real agent through the CLI.
public struct AuditStatusView: Decodable, Sendable {
    public struct Running: Decodable, Sendable {
        public var taskId: String
        public var state: String
        public var phase: String
        public var progress: Double
    }
    public struct CheckSummary: Decodable, Sendable {
        public var status: String
        public var score: Int
        public var findings: Int
        enum CodingKeys: String, CodingKey { case status, score, violations }
        /// A finding is counted, not read.
        struct Counted: Decodable { init(from decoder: any Decoder) throws {} }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            status = try c.decode(String.self, forKey: .status)
            score = try c.decode(Int.self, forKey: .score)
            findings = try c.decode([Counted].self, forKey: .violations).count
        }
    }
    public struct Gate: Decodable, Sendable { public var passed: Bool }
    public var projectId: String
    public var projectName: String
    public var repositoryUrl: String
    public var lastAuditTime: String?
    public var commit: String?
    public var overallHealthScore: Int?
    public var runningAudit: Running?
    public var magicResults: [String: CheckSummary]
    /// Present once the project has a result.
    public var gate: Gate?
}

/// `GET /v1/projects/{id}/results`: the signed envelopes as stored, newest first, and their ids.
public struct ResultsPage: Decodable, Sendable {
    public var ids: [String]
    public var items: [DSSEEnvelope]
    public var next: String?
}

/// `POST /v1/members/join`: the address joined through and the live members now known.
public struct JoinedView: Codable, Sendable {
    public var joined: String
    public var members: Int
}
