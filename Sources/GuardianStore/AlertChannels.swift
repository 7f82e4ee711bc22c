import Foundation
import GRDB
import GuardianCore
import GuardianCrypto
import GuardianMesh

/// Where a team's alerts go (docs/alerts.md): a Slack or Discord webhook, email addresses, or a
/// signed webhook. A registry record (kind `channel`, id `TEAM.NAME`), so every node holds every
/// channel: the sender is a project's primary, and any node may be asked. The value travels in
/// clear only inside the cluster-sealed registry stream; at rest it is sealed with the node's own
/// `secret.key` (its URL and secret are credentials), and no air-gap bundle carries it.
public struct AlertChannel: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case slack, discord, email, webhook }
    public enum Frequency: String, Codable, Sendable, CaseIterable { case immediate, hourly, daily, weekly }

    public var id: String
    public var team: String
    public var name: String
    public var kind: String
    /// Slack, Discord and webhook: where to POST. A secret: shown only as its host.
    public var url: String?
    /// Email: the recipients.
    public var to: [String]?
    /// Webhook: the HMAC-SHA256 key of `X-Guardian-Signature-256`.
    public var secret: String?
    /// The event kinds it receives (`AlertEventKind` raw values).
    public var events: [String]
    /// `finding.new` below this severity is left out.
    public var minSeverity: String
    /// nil: the team profile's `notification_frequency`.
    public var frequency: String?
    /// Set by an admin: the channel receives the events of every team's projects, not only its
    /// team's (a platform team's channel). Its messages are shown to admins only.
    public var allTeams: Bool?
    public var createdAt: Double
    public var updatedAt: Double

    public init(team: String, name: String, kind: Kind, url: String?, to: [String]?, secret: String?, events: [String],
                minSeverity: Severity, frequency: Frequency?, createdAt: Double, updatedAt: Double) {
        id = Self.id(team: team, name: name)
        self.team = team; self.name = name; self.kind = kind.rawValue; self.url = url; self.to = to; self.secret = secret
        self.events = events; self.minSeverity = minSeverity.rawValue; self.frequency = frequency?.rawValue
        self.createdAt = createdAt; self.updatedAt = updatedAt
    }

    /// A channel's name holds no `.`, so `TEAM.NAME` splits at its last one.
    public static func id(team: String, name: String) -> String { "\(team).\(name)" }

    public var channelKind: Kind { Kind(rawValue: kind) ?? .webhook }
    public var isMeshWide: Bool { allTeams ?? false }
    public var severity: Severity { Severity(rawValue: minSeverity) ?? .info }

    /// The host of the URL, which responses show instead of the URL.
    public var host: String? { url.flatMap { URLComponents(string: $0)?.host } }

    /// The events a channel receives unless it names them: its team's audit events.
    public static let defaultEvents: [String] = ["gate.failed", "gate.recovered", "check.status_changed", "finding.new", "health.dropped", "audit.error"]
    /// The mesh's events, which a channel receives only when it names them.
    public static let meshEvents: [String] = ["member.failed", "member.left"]
    public static let allEvents = defaultEvents + meshEvents

    static let maxRecipients = 20

    /// Whether `s` looks like one mailbox: local@domain, no spaces, commas, angle brackets or controls.
    static func validAddress(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard s.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else { return false }
        return s.unicodeScalars.allSatisfy { $0.value > 32 && $0.value != 127 && !",<>;\"()[]\\".unicodeScalars.contains($0) }
    }
}

extension RegistryRules {
    /// A channel as every node must hold it. The URL's network policy (https, private addresses) is
    /// the sending node's to apply, not the registry's.
    static func channel(_ c: AlertChannel) throws {
        try id(c.team, "team")
        try id(c.name, "channel name")
        guard !c.name.contains(".") else { throw InvalidRecord("a channel name holds no '.'") }
        guard c.id == AlertChannel.id(team: c.team, name: c.name) else { throw InvalidRecord("a channel's id is TEAM.NAME") }
        guard let kind = AlertChannel.Kind(rawValue: c.kind) else { throw InvalidRecord("channel kind '\(c.kind.prefix(20))' is not slack, discord, email or webhook") }
        switch kind {
        case .email:
            guard let to = c.to, !to.isEmpty, to.count <= AlertChannel.maxRecipients else {
                throw InvalidRecord("an email channel needs 'to': 1 to \(AlertChannel.maxRecipients) addresses")
            }
            for a in to where !AlertChannel.validAddress(a) { throw InvalidRecord("'\(a.prefix(60))' is not an email address") }
            guard c.url == nil else { throw InvalidRecord("an email channel has 'to', not 'url'") }
        case .slack, .discord, .webhook:
            guard let url = c.url else { throw InvalidRecord("a \(kind.rawValue) channel needs 'url'") }
            try check(url, "url", max: FieldLimits.url)
            guard let u = URLComponents(string: url), let scheme = u.scheme?.lowercased(), scheme == "https" || scheme == "http",
                  let host = u.host, !host.isEmpty, u.user == nil, u.password == nil else {
                throw InvalidRecord("a channel's url is an http(s) URL with a host and no user")
            }
            guard c.to == nil else { throw InvalidRecord("a \(kind.rawValue) channel has 'url', not 'to'") }
        }
        if let s = c.secret {
            guard kind == .webhook else { throw InvalidRecord("only a webhook channel has a secret") }
            try check(s, "secret", max: FieldLimits.secret)
            guard !s.isEmpty else { throw InvalidRecord("a webhook secret is not empty") }
        }
        guard !c.events.isEmpty, c.events.count <= 16, Set(c.events).count == c.events.count else {
            throw InvalidRecord("a channel names its events once each, at least one")
        }
        for e in c.events where !AlertChannel.allEvents.contains(e) {
            throw InvalidRecord("'\(e.prefix(40))' is not an event: \(AlertChannel.allEvents.joined(separator: ", "))")
        }
        guard Severity(rawValue: c.minSeverity) != nil else { throw InvalidRecord("minSeverity is one of critical, high, medium, low, info") }
        if let f = c.frequency, AlertChannel.Frequency(rawValue: f) == nil { throw InvalidRecord("frequency is immediate, hourly, daily or weekly") }
        guard c.createdAt.isFinite, c.updatedAt.isFinite else { throw InvalidRecord("a channel's times are numbers") }
    }
}

/// A channel as this node stores it: the whole value sealed with the node's secret key.
struct ChannelRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "channel"
    var id: String
    var team: String
    var sealed: Data
}
