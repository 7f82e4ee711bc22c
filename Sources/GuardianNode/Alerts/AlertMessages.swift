import Foundation
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Synchronization

/// What a message says about its project: the names, the result, and the dashboard link when the
/// node has a `public_url`.
public struct AlertContext: Sendable, Equatable, Codable {
    public var projectId: String
    public var projectName: String
    public var team: String
    public var resultId: String?
    public var commit: String?
    public var health: Int?
    /// `public_url` + `/ui/projects/{id}`, or nil when no public URL is configured.
    public var link: String?
    /// Set on a digest: the period it covers. Its events name their projects.
    public var digest: DigestInfo?

    public struct DigestInfo: Sendable, Equatable, Codable {
        public var period: String
        /// Seconds since 1970.
        public var start: Double
        public var end: Double
        public var projects: Int
        public init(period: String, start: Double, end: Double, projects: Int) { self.period = period; self.start = start; self.end = end; self.projects = projects }
    }

    public init(projectId: String, projectName: String, team: String, resultId: String?, commit: String?, health: Int?, link: String?) {
        self.projectId = projectId; self.projectName = projectName; self.team = team; self.resultId = resultId
        self.commit = commit; self.health = health; self.link = link
    }
}

/// The bodies Guardian sends to each kind of channel (docs/alerts.md), and how a receiver's answer
/// becomes an `AttemptOutcome`. Pure: bytes in, bytes out.
public enum AlertMessages {
    /// Slack's limits (Block Kit): 3,000 characters of text in a section, 50 blocks in a message.
    static let slackSectionText = 3_000, slackBlocks = 50
    /// Discord's limits: a title of 256 characters, a description of 4,096, 25 fields.
    static let discordTitle = 256, discordDescription = 4_096, discordFields = 25

    static func clip(_ s: String, _ max: Int) -> String { s.count <= max ? s : String(s.prefix(max - 1)) + "…" }

    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? [UInt8](e.encode(value))) ?? Array("{}".utf8) // the bodies are strings and numbers: they always encode
    }

    static func headline(_ events: [AlertEvent], _ c: AlertContext) -> String {
        if let d = c.digest {
            let n = events.filter { $0.kind != .trend }.count
            return "Guardian: \(c.projectName) — \(n) event\(n == 1 ? "" : "s") in \(d.projects) project\(d.projects == 1 ? "" : "s")"
        }
        let kinds = Set(events.map(\.kind))
        let what = kinds.contains(.gateFailed) ? "quality gate failed" : kinds.contains(.gateRecovered) ? "quality gate recovered"
            : events.count == 1 ? events[0].kind.rawValue : "\(events.count) events"
        return "Guardian: \(c.projectName) — \(what)" + (c.health.map { " (health \($0))" } ?? "")
    }

    static func line(_ e: AlertEvent) -> String { "• \(e.severity.map { "[\($0.rawValue)] " } ?? "")\(e.summary)" }

    /// Slack's mrkdwn escaping: `&`, `<` and `>` (text from a repository must not become a mention
    /// such as `<!channel>` or a disguised link).
    static func slackEscaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    // MARK: Slack (incoming webhook, Block Kit)

    struct SlackText: Encodable { var type: String; var text: String }
    struct SlackBlock: Encodable {
        var type: String
        var text: SlackText?
        var elements: [SlackText]?
    }
    struct SlackMessage: Encodable { var text: String; var blocks: [SlackBlock] }

    /// `{"text": fallback, "blocks": [header, sections of event lines, context]}`.
    public static func slack(_ events: [AlertEvent], _ c: AlertContext) -> [UInt8] {
        let title = headline(events, c)
        var blocks = [SlackBlock(type: "header", text: SlackText(type: "plain_text", text: clip(title, 150)))]
        // event lines, packed into sections under Slack's text limit, within its block limit
        var section = ""
        for l in events.map({ slackEscaped(line($0)) }) {
            if section.count + l.count + 1 > slackSectionText, !section.isEmpty {
                blocks.append(SlackBlock(type: "section", text: SlackText(type: "mrkdwn", text: section)))
                section = ""
            }
            section += (section.isEmpty ? "" : "\n") + clip(l, slackSectionText)
        }
        if !section.isEmpty { blocks.append(SlackBlock(type: "section", text: SlackText(type: "mrkdwn", text: section))) }
        if blocks.count > slackBlocks - 1 {
            // the last section says what did not fit, not a silent cut
            let shown = blocks.prefix(slackBlocks - 2).reduce(0) { $0 + ($1.text?.text.split(separator: "\n").count ?? 0) } - 0
            blocks = Array(blocks.prefix(slackBlocks - 2))
            blocks.append(SlackBlock(type: "section", text: SlackText(type: "mrkdwn", text: "…and \(max(0, events.count - shown)) more")))
        }
        var context = slackEscaped("team \(c.team)" + (c.commit.map { " · commit \($0.prefix(10))" } ?? ""))
        if let link = c.link { context += " · <\(link)|open in Guardian>" }
        blocks.append(SlackBlock(type: "context", elements: [SlackText(type: "mrkdwn", text: context)]))
        return encode(SlackMessage(text: clip(title, 3_000), blocks: blocks))
    }

    // MARK: Discord (webhook, embed)

    struct DiscordField: Encodable { var name: String; var value: String; var inline: Bool }
    struct DiscordFooter: Encodable { var text: String }
    struct DiscordEmbed: Encodable {
        var title: String
        var description: String
        var url: String?
        var color: Int
        var fields: [DiscordField]
        var footer: DiscordFooter
    }
    struct DiscordMessage: Encodable { var embeds: [DiscordEmbed] }

    /// The embed's colour: red when the gate failed, green when it recovered, amber otherwise.
    static func colour(_ events: [AlertEvent]) -> Int {
        let kinds = Set(events.map(\.kind))
        if kinds.contains(.gateFailed) || kinds.contains(.auditError) || kinds.contains(.memberFailed) { return 0xD62828 }
        if kinds.contains(.gateRecovered) { return 0x2E7D32 }
        return 0xE3A008
    }

    /// `{"embeds": [{title, description, url, color, fields, footer}]}`.
    public static func discord(_ events: [AlertEvent], _ c: AlertContext) -> [UInt8] {
        let description = clip(events.map(line).joined(separator: "\n"), discordDescription)
        var fields = [DiscordField(name: "Team", value: c.team, inline: true)]
        if let h = c.health { fields.append(DiscordField(name: "Health", value: String(h), inline: true)) }
        if let commit = c.commit { fields.append(DiscordField(name: "Commit", value: String(commit.prefix(10)), inline: true)) }
        let embed = DiscordEmbed(title: clip(headline(events, c), discordTitle), description: description, url: c.link,
                                 color: colour(events), fields: Array(fields.prefix(discordFields)), footer: DiscordFooter(text: "Guardian · \(c.projectId)"))
        return encode(DiscordMessage(embeds: [embed]))
    }

    // MARK: webhook (JSON, signed)

    struct WebhookEvent: Encodable {
        var project: String
        var kind: String
        var subject: String
        var summary: String
        var severity: String?
    }
    struct WebhookProject: Encodable {
        var id: String
        var name: String
        var team: String
        var url: String?
    }
    struct WebhookDigest: Encodable {
        var team: String
        var period: String
        var start: Double
        var end: Double
        var url: String?
    }
    struct WebhookBody: Encodable {
        var delivery: String
        var schemaVersion: Int
        /// A digest has no one project: its events name theirs.
        var project: WebhookProject?
        var digest: WebhookDigest?
        var resultId: String?
        var commit: String?
        var health: Int?
        var events: [WebhookEvent]
    }

    /// The webhook body (`docs/alerts.md`, schema version 1).
    public static func webhook(deliveryID: String, _ events: [AlertEvent], _ c: AlertContext) -> [UInt8] {
        encode(WebhookBody(delivery: deliveryID, schemaVersion: 1,
                           project: c.digest == nil && !c.projectId.isEmpty ? WebhookProject(id: c.projectId, name: c.projectName, team: c.team, url: c.link) : nil,
                           digest: c.digest.map { WebhookDigest(team: c.team, period: $0.period, start: $0.start, end: $0.end, url: c.link) },
                           resultId: c.resultId, commit: c.commit, health: c.health,
                           events: events.map { WebhookEvent(project: $0.project, kind: $0.kind.rawValue, subject: $0.subject, summary: $0.summary,
                                                             severity: $0.severity?.rawValue) }))
    }

    /// The webhook's headers: GitHub's signing scheme (`X-Guardian-Signature-256: sha256=<hex HMAC-SHA256
    /// of the body with the channel's secret>`), the delivery id a receiver drops repeats by, and the event.
    public static func webhookHeaders(deliveryID: String, event: String, body: [UInt8], secret: String?) -> [(String, String)] {
        var h = [("Content-Type", "application/json"), ("User-Agent", "Guardian-Alerts/1"), ("X-Guardian-Delivery", deliveryID),
                 ("X-Guardian-Event", event)]
        if let secret, !secret.isEmpty {
            h.append(("X-Guardian-Signature-256", "sha256=" + Sodium.hex(Sodium.hmacSHA256(key: Array(secret.utf8), message: body))))
        }
        return h
    }

    // MARK: answers

    /// A receiver's HTTP answer as an attempt's outcome: 2xx delivered; 408, 429 and 5xx retried
    /// (after `Retry-After`, in seconds or as an HTTP date, when given); any other 4xx rejected.
    public static func outcome(status: Int, retryAfter: String?, now: Date) -> AttemptOutcome {
        switch status {
        case 200..<300: return .delivered
        case 408, 429, 500..<600: return .retry(retryAfter: retryAfter.flatMap { parseRetryAfter($0, now: now) })
        default: return .rejected
        }
    }

    /// `Retry-After` in milliseconds: delta-seconds, or an IMF-fixdate (RFC 9110 §10.2.3).
    static func parseRetryAfter(_ value: String, now: Date) -> Millis? {
        let v = value.trimmingCharacters(in: .whitespaces)
        // delta-seconds is digits only (no sign)
        if !v.isEmpty, v.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) { return Millis(min(Int(v.prefix(6)) ?? 86_400, 86_400)) * 1_000 }
        guard let date = httpDate.withLock({ $0.date(from: v) }) else { return nil }
        return max(0, Millis(date.timeIntervalSince(now) * 1_000))
    }

    /// IMF-fixdate, the one HTTP date format a sender must produce.
    static let httpDate = Mutex<DateFormatter>({
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f
    }())
}
