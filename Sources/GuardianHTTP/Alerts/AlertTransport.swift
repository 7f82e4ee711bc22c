import AsyncHTTPClient
import Foundation
import GuardianCore
import GuardianMesh
import GuardianNode
import GuardianStore
import NIOCore

/// How one message reaches one channel: a POST to Slack, Discord or a webhook (the URL checked
/// against `AlertTargets` first), or an email through the configured SMTP server. The outcome is
/// the receiver's answer as the pure core reads it, and the answer's text for the history.
public struct AlertTransport: Sendable {
    public let targets: AlertTargets
    public let smtp: SMTPSettings?

    public init(_ c: AgentConfig) throws {
        targets = AlertTargets(allowPrivate: c.alertAllowPrivateTargets)
        smtp = try SMTPSettings(c)
    }

    /// Receivers: no redirects (a 3xx is an answer, not a place to go), bounded waits.
    static let receiverClient: HTTPClient = {
        var c = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(15)))
        c.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: c)
    }()
    static let receiverSeconds: Double = 20
    static let answerLimit = 4_096

    /// Sends one message to one channel (also `POST …/channels/{name}/test`).
    public func send(_ events: [AlertEvent], _ context: AlertContext, deliveryID: String, to channel: AlertChannel) async -> (AttemptOutcome, String) {
        switch channel.channelKind {
        case .email:
            guard let smtp else { return (.rejected, "this node has no SMTP server (smtp_host)") }
            let mail = AlertEmail(events, context)
            return await SMTPClient.send(mail.message(from: smtp.from, to: channel.to ?? [], deliveryID: deliveryID, date: Date()),
                                         to: channel.to ?? [], settings: smtp)
        case .slack, .discord, .webhook:
            guard let url = channel.url else { return (.rejected, "the channel has no url") }
            do { try await targets.check(url) } catch { return (.rejected, "\(error)") }
            let body: [UInt8]
            var headers: [(String, String)] = [("Content-Type", "application/json"), ("User-Agent", "Guardian-Alerts/1")]
            switch channel.channelKind {
            case .slack: body = AlertMessages.slack(events, context)
            case .discord: body = AlertMessages.discord(events, context)
            default:
                body = AlertMessages.webhook(deliveryID: deliveryID, events, context)
                headers = AlertMessages.webhookHeaders(deliveryID: deliveryID, event: events.count == 1 ? events[0].kind.rawValue : "batch",
                                                       body: body, secret: channel.secret)
            }
            return await post(body, headers: headers, to: url)
        }
    }

    func post(_ body: [UInt8], headers: [(String, String)], to url: String) async -> (AttemptOutcome, String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let prepared = request
        let response: HTTPClientResponse
        do {
            response = try await withDeadline(seconds: Self.receiverSeconds, "the receiver") {
                try await Self.receiverClient.execute(prepared, timeout: .seconds(Int64(Self.receiverSeconds)))
            }
        } catch {
            return (.retry(retryAfter: nil), "\(error)")
        }
        let status = Int(response.status.code)
        // the status decides; the start of the body is for the history, read briefly, and its errors are not the message's
        let text: String = (try? await withDeadline(seconds: 2, "the answer's body") {
            var collected = ByteBuffer()
            for try await chunk in response.body {
                var c = chunk
                collected.writeBuffer(&c)
                if collected.readableBytes >= Self.answerLimit { break }
            }
            return collected.readString(length: min(collected.readableBytes, Self.answerLimit)) ?? ""
        }) ?? ""
        return (AlertMessages.outcome(status: status, retryAfter: response.headers.first(name: "Retry-After"), now: Date()),
                Self.answerLine(status: status, text))
    }

    /// What the history keeps of an answer: the status and the first 200 printable characters.
    static func answerLine(status: Int, _ text: String) -> String {
        let shown = text.unicodeScalars.filter { $0.value >= 32 && $0.value != 127 }.map(String.init).joined().prefix(200)
        return "HTTP \(status)" + (shown.isEmpty ? "" : ": \(shown)")
    }

}
