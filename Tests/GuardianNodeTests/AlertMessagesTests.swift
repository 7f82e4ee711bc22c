import Foundation
import GuardianCore
import GuardianMesh
@testable import GuardianNode
import Testing

/// The bodies each kind of channel receives, against the shapes their receivers document, the
/// webhook's signature against GitHub's published example, and receivers' answers as outcomes.
@Suite struct AlertMessagesTests {
    static let context = AlertContext(projectId: "shop-1a2b3c", projectName: "shop", team: "payments", resultId: "r1",
                                      commit: "0123456789abcdef", health: 61, link: "https://guardian.example/ui/projects/shop-1a2b3c")
    static let events = [
        AlertEvent(kind: .gateFailed, project: "shop-1a2b3c", summary: "the quality gate failed (health 61)", severity: .high),
        AlertEvent(kind: .findingNew, project: "shop-1a2b3c", subject: "f1", summary: "strict/dangerous-call at app.py:3: os.system", severity: .critical),
    ]

    static func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func slackGetsBlockKit() throws {
        let m = try Self.json(AlertMessages.slack(Self.events, Self.context))
        #expect((m["text"] as? String)?.contains("quality gate failed") == true, "the notification's fallback text")
        let blocks = try #require(m["blocks"] as? [[String: Any]])
        #expect(blocks.map { $0["type"] as? String } == ["header", "section", "context"])
        #expect((blocks[0]["text"] as? [String: Any])?["type"] as? String == "plain_text")
        let section = try #require(blocks[1]["text"] as? [String: Any])
        #expect(section["type"] as? String == "mrkdwn" && (section["text"] as? String)?.contains("[critical] strict/dangerous-call") == true)
        let context = try #require((blocks[2]["elements"] as? [[String: Any]])?.first?["text"] as? String)
        #expect(context.contains("<https://guardian.example/ui/projects/shop-1a2b3c|open in Guardian>"))
        // many events stay within Slack's limits: 3,000 characters a section, 50 blocks
        let many = (0..<2_000).map { AlertEvent(kind: .findingNew, project: "p", subject: "f\($0)", summary: String(repeating: "x", count: 200)) }
        let big = try #require(try Self.json(AlertMessages.slack(many, Self.context))["blocks"] as? [[String: Any]])
        #expect(big.count <= 50 && big.allSatisfy { (($0["text"] as? [String: Any])?["text"] as? String)?.count ?? 0 <= 3_000 })
    }

    @Test func discordGetsAColouredEmbed() throws {
        let m = try Self.json(AlertMessages.discord(Self.events, Self.context))
        let embed = try #require((m["embeds"] as? [[String: Any]])?.first)
        #expect(embed["color"] as? Int == 0xD62828, "a failed gate is red")
        #expect(embed["url"] as? String == Self.context.link && (embed["title"] as? String)?.hasPrefix("Guardian: shop") == true)
        #expect((embed["fields"] as? [[String: Any]])?.map { $0["name"] as? String } == ["Team", "Health", "Commit"])
        let recovered = try Self.json(AlertMessages.discord([AlertEvent(kind: .gateRecovered, project: "p", summary: "ok")], Self.context))
        #expect((recovered["embeds"] as? [[String: Any]])?.first?["color"] as? Int == 0x2E7D32)
        let long = [AlertEvent(kind: .findingNew, project: "p", summary: String(repeating: "y", count: 10_000))]
        let clipped = try #require((try Self.json(AlertMessages.discord(long, Self.context))["embeds"] as? [[String: Any]])?.first)
        #expect((clipped["description"] as? String)?.count == 4_096)
    }

    @Test func theWebhookIsSignedAsGitHubSignsItsOwn() throws {
        // GitHub's published example: this secret and body give this signature
        let h = AlertMessages.webhookHeaders(deliveryID: "d1", event: "gate.failed", body: Array("Hello, World!".utf8), secret: "It's a Secret to Everybody")
        let headers = Dictionary(h, uniquingKeysWith: { a, _ in a })
        #expect(headers["X-Guardian-Signature-256"] == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        #expect(headers["X-Guardian-Delivery"] == "d1" && headers["X-Guardian-Event"] == "gate.failed")
        #expect(AlertMessages.webhookHeaders(deliveryID: "d1", event: "e", body: [], secret: nil).allSatisfy { $0.0 != "X-Guardian-Signature-256" })
        let body = try Self.json(AlertMessages.webhook(deliveryID: "d1", Self.events, Self.context))
        #expect(body["delivery"] as? String == "d1" && body["schemaVersion"] as? Int == 1 && body["health"] as? Int == 61)
        #expect((body["project"] as? [String: Any])?["team"] as? String == "payments")
        #expect((body["events"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["gate.failed", "finding.new"])
    }

    @Test func answersBecomeOutcomes() {
        let now = Date(timeIntervalSince1970: 1_796_256_000)
        #expect(AlertMessages.outcome(status: 200, retryAfter: nil, now: now) == .delivered)
        #expect(AlertMessages.outcome(status: 204, retryAfter: nil, now: now) == .delivered)
        #expect(AlertMessages.outcome(status: 429, retryAfter: "30", now: now) == .retry(retryAfter: 30_000))
        #expect(AlertMessages.outcome(status: 503, retryAfter: "Thu, 03 Dec 2026 00:01:00 GMT", now: now) == .retry(retryAfter: 60_000))
        #expect(AlertMessages.outcome(status: 500, retryAfter: "soon", now: now) == .retry(retryAfter: nil))
        #expect(AlertMessages.outcome(status: 408, retryAfter: nil, now: now) == .retry(retryAfter: nil))
        for rejected in [400, 401, 403, 404, 410] { #expect(AlertMessages.outcome(status: rejected, retryAfter: nil, now: now) == .rejected) }
    }
}

extension AlertMessagesTests {
    @Test func slackTextFromARepositoryCannotMentionOrDisguiseALink() throws {
        let hostile = [AlertEvent(kind: .findingNew, project: "p", subject: "f", summary: "<!channel> see <https://evil.example|docs> & more")]
        let m = try Self.json(AlertMessages.slack(hostile, Self.context))
        let text = try #require(((m["blocks"] as? [[String: Any]])?[1]["text"] as? [String: Any])?["text"] as? String)
        #expect(!text.contains("<!channel>") && !text.contains("<https://evil") && text.contains("&lt;!channel&gt;") && text.contains("&amp; more"))
        // what does not fit says so
        let many = (0..<2_000).map { AlertEvent(kind: .findingNew, project: "p", subject: "f\($0)", summary: String(repeating: "x", count: 200)) }
        let blocks = try #require(try Self.json(AlertMessages.slack(many, Self.context))["blocks"] as? [[String: Any]])
        #expect(((blocks[blocks.count - 2]["text"] as? [String: Any])?["text"] as? String)?.hasPrefix("…and ") == true)
        #expect(AlertMessages.parseRetryAfter("+30", now: Date()) == nil && AlertMessages.parseRetryAfter("-1", now: Date()) == nil)
    }
}
