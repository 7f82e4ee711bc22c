import Foundation
import GuardianMesh
import GuardianNode
import NIOCore
import NIOPosix
import NIOSSL

/// Where and how email channels send: the agent's `smtp_*` settings.
public struct SMTPSettings: Sendable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var from: String
    public var starttls: Bool
    public var caFile: String?

    public init(host: String, port: Int, username: String?, password: String?, from: String, starttls: Bool, caFile: String?) {
        self.host = host; self.port = port; self.username = username; self.password = password; self.from = from
        self.starttls = starttls; self.caFile = caFile
    }

    /// The settings of a configuration, nil without `smtp_host`; the password from its file if given.
    public init?(_ c: AgentConfig) throws {
        guard let host = c.smtpHost, let from = c.smtpFrom else { return nil }
        var password = c.smtpPassword
        if let file = c.smtpPasswordFile {
            password = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        self.init(host: host, port: c.smtpPort, username: c.smtpUsername, password: password, from: from, starttls: c.smtpStarttls, caFile: c.smtpCAFile)
    }
}

/// One SMTP conversation (RFC 5321): EHLO, STARTTLS (RFC 3207) before anything else is said when
/// the settings ask for it, AUTH PLAIN or LOGIN (RFC 4954), MAIL, RCPT, DATA, QUIT. The outcome is
/// the server's: 250 after the data is delivered, a 4xx is tried again later, a 5xx is rejected.
public enum SMTPClient {
    public struct Reply: Sendable, Equatable {
        public var code: Int
        public var lines: [String]
        public var text: String { "\(code) \(lines.joined(separator: " / "))" }
    }

    struct Failure: Error, CustomStringConvertible {
        var outcome: AttemptOutcome
        var description: String
    }

    /// Sends `message` to `to`; the outcome and what the server last said.
    public static func send(_ message: [UInt8], to: [String], settings s: SMTPSettings, timeout: Double = 30) async -> (AttemptOutcome, String) {
        do {
            let answer = try await withDeadline(seconds: timeout, "the SMTP server") {
                try await converse(message, to: to, settings: s)
            }
            return (.delivered, answer)
        } catch let f as Failure {
            return (f.outcome, f.description)
        } catch {
            return (.retry(retryAfter: nil), "\(error)")
        }
    }

    static func converse(_ message: [UInt8], to: [String], settings s: SMTPSettings) async throws -> String {
        let replies = ReplyReader()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(replies) } }
            .connect(host: s.host, port: s.port).get()
        defer { channel.close(promise: nil) }
        // a deadline cancels the conversation: closing the connection ends the wait for a reply
        return try await withTaskCancellationHandler {
            try await talk(channel, replies, message, to: to, settings: s)
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    static func talk(_ channel: any Channel, _ replies: ReplyReader, _ message: [UInt8], to: [String], settings s: SMTPSettings) async throws -> String {
        func say(_ line: String) async throws {
            try await channel.writeAndFlush(ByteBuffer(string: line + "\r\n")).get()
        }
        func expect(_ codes: ClosedRange<Int>, _ what: String) async throws -> Reply {
            let r = try await replies.next()
            guard codes.contains(r.code) else {
                throw Failure(outcome: r.code >= 500 ? .rejected : .retry(retryAfter: nil), description: "\(what): \(r.text)")
            }
            return r
        }
        _ = try await expect(220...220, "greeting")
        try await say("EHLO guardian")
        var ehlo = try await expect(250...250, "EHLO")
        if s.starttls {
            guard ehlo.lines.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) else {
                throw Failure(outcome: .rejected, description: "the server does not offer STARTTLS (smtp_starttls is on)")
            }
            try await say("STARTTLS")
            _ = try await expect(220...220, "STARTTLS")
            // nothing the server sent before the handshake may count as said after it (RFC 3207 §6)
            replies.reset()
            var tls = TLSConfiguration.makeClientConfiguration()
            if let ca = s.caFile { tls.additionalTrustRoots = [.file(ca)] }
            let context = try NIOSSLContext(configuration: tls)
            let isIP = (try? SocketAddress(ipAddress: s.host, port: 0)) != nil
            let handler = try NIOSSLClientHandler(context: context, serverHostname: isIP ? nil : s.host)
            try await channel.pipeline.addHandler(handler, position: .first).get()
            try await say("EHLO guardian")
            ehlo = try await expect(250...250, "EHLO after STARTTLS")
        }
        if let user = s.username {
            // the password never crosses in clear, and goes only to a server that asks for it
            guard s.starttls else {
                throw Failure(outcome: .rejected, description: "AUTH without STARTTLS would send the password in clear (smtp_starttls is off)")
            }
            let password = s.password ?? ""
            let mechanisms = ehlo.lines.first { $0.uppercased().hasPrefix("AUTH") }?.uppercased().split(separator: " ").map(String.init) ?? []
            guard mechanisms.contains("PLAIN") || mechanisms.contains("LOGIN") else {
                throw Failure(outcome: .rejected, description: "the server offers no AUTH PLAIN or LOGIN (smtp_username is set)")
            }
            if mechanisms.contains("PLAIN") {
                try await say("AUTH PLAIN " + Data(([0] + Array(user.utf8) + [0] + Array(password.utf8))).base64EncodedString())
                _ = try await expect(235...235, "AUTH")
            } else {
                try await say("AUTH LOGIN")
                _ = try await expect(334...334, "AUTH LOGIN")
                try await say(Data(user.utf8).base64EncodedString())
                _ = try await expect(334...334, "AUTH LOGIN")
                try await say(Data(password.utf8).base64EncodedString())
                _ = try await expect(235...235, "AUTH")
            }
        }
        try await say("MAIL FROM:<\(s.from)>")
        _ = try await expect(250...250, "MAIL FROM")
        for r in to {
            try await say("RCPT TO:<\(r)>")
            _ = try await expect(250...251, "RCPT TO \(r)")
        }
        try await say("DATA")
        _ = try await expect(354...354, "DATA")
        var data = ByteBuffer(bytes: message)
        if !message.suffix(2).elementsEqual([13, 10]) { data.writeString("\r\n") }
        data.writeString(".\r\n")
        try await channel.writeAndFlush(data).get()
        let accepted = try await expect(250...250, "the message")
        try? await say("QUIT")
        return accepted.text
    }

    /// Parses the server's replies (`CODE-text` continues a reply, `CODE text` ends it) and hands
    /// them out in order. A reply longer than 64 KiB, or a closed connection, fails the reader.
    final class ReplyReader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        // touched on the channel's event loop (reads) and by the one conversation task (next), under `lock`
        private let lock = NSLock()
        private var pending = ""
        private var lines: [String] = []
        private var ready: [Result<Reply, any Error>] = []
        private var waiter: CheckedContinuation<Reply, any Error>?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let text = buffer.readString(length: buffer.readableBytes) ?? ""
            lock.lock()
            pending += text
            var out: [Result<Reply, any Error>] = []
            while let r = pending.range(of: "\r\n") ?? pending.range(of: "\n") {
                let line = String(pending[..<r.lowerBound])
                pending = String(pending[r.upperBound...])
                guard line.count >= 3, let code = Int(line.prefix(3)) else {
                    out.append(.failure(Failure(outcome: .retry(retryAfter: nil), description: "not an SMTP reply: \(line.prefix(80))")))
                    continue
                }
                let rest = line.dropFirst(3)
                lines.append(String(rest.dropFirst()))
                if !rest.hasPrefix("-") {
                    out.append(.success(Reply(code: code, lines: lines)))
                    lines = []
                }
            }
            if pending.utf8.count > 65_536 { out.append(.failure(Failure(outcome: .retry(retryAfter: nil), description: "an SMTP reply too long"))) }
            deliver(out)
        }

        func channelInactive(context: ChannelHandlerContext) {
            lock.lock()
            deliver([.failure(Failure(outcome: .retry(retryAfter: nil), description: "the SMTP server closed the connection"))])
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            lock.lock()
            deliver([.failure(Failure(outcome: .retry(retryAfter: nil), description: "SMTP connection: \(error)"))])
            context.close(promise: nil)
        }

        /// Called with `lock` held; releases it.
        private func deliver(_ results: [Result<Reply, any Error>]) {
            ready += results
            if let w = waiter, !ready.isEmpty {
                waiter = nil
                let r = ready.removeFirst()
                lock.unlock()
                w.resume(with: r)
            } else {
                lock.unlock()
            }
        }

        func reset() {
            lock.lock()
            pending = ""; lines = []; ready = []
            lock.unlock()
        }

        func next() async throws -> Reply {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Reply, any Error>) in
                lock.lock()
                if !ready.isEmpty {
                    let r = ready.removeFirst()
                    lock.unlock()
                    c.resume(with: r)
                } else {
                    waiter = c
                    lock.unlock()
                }
            }
        }
    }
}
