import Foundation
import GuardianCore
import GuardianHTTP
import GuardianNode
import GuardianTestKit
import Testing

/// Email alerts through a real SMTP server: Debian's aiosmtpd (`tests/smtp/smtp_server.py`) on
/// loopback, which requires STARTTLS and then AUTH, with a certificate made for the test.
@Suite(.serialized) struct AlertEmailTests {
    /// The server, its certificate and the directory it writes accepted messages to.
    final class SMTPServer: @unchecked Sendable { // set up once, read by the test
        let dir: String
        let process = Process()
        let input = Pipe()
        var port = 0
        var cert: String { dir + "/cert.pem" }

        init(user: String = "guardian", password: String = "pa55word", rejecting: String? = nil) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-smtp-\(UUID())").path
            try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
            let made = try CommandRunner.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/key.pem",
                                                                  "-out", dir + "/cert.pem", "-days", "1", "-subj", "/CN=localhost",
                                                                  "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            guard made.status == 0 else { throw GuardianError.io("openssl: \(made.stderr)") }
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("tests/smtp/smtp_server.py").path
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3") // Debian's, which has python3-aiosmtpd
            process.arguments = [script, cert, dir + "/key.pem", dir + "/out", user, password] + (rejecting.map { ["--reject-rcpt", $0] } ?? [])
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            guard line.hasPrefix("port "), let p = Int(line.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw GuardianError.io("the SMTP server did not start: \(line)")
            }
            port = p
        }

        func stop() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: dir)
        }

        /// The accepted messages: their bytes and envelope, in order.
        func messages() -> [(eml: String, envelope: [String: Any])] {
            (1...).lazy.prefix { FileManager.default.fileExists(atPath: "\(self.dir)/out/\($0).json") }.map { n in
                (String(decoding: FileManager.default.contents(atPath: "\(self.dir)/out/\(n).eml") ?? Data(), as: UTF8.self),
                 ((try? JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: "\(self.dir)/out/\(n).json") ?? Data())) as? [String: Any]) ?? [:])
            }
        }

        func settings(password: String = "pa55word", starttls: Bool = true) -> SMTPSettings {
            SMTPSettings(host: "127.0.0.1", port: port, username: "guardian", password: password, from: "guardian@example.test",
                         starttls: starttls, caFile: cert)
        }
    }

    /// A MIME part's decoded body by its content type.
    static func part(_ eml: String, _ type: String) -> String? {
        let normalized = eml.replacingOccurrences(of: "\r\n", with: "\n")
        guard let start = normalized.range(of: "Content-Type: \(type); charset=utf-8\nContent-Transfer-Encoding: base64\n\n") else { return nil }
        let rest = normalized[start.upperBound...]
        let b64 = rest.prefix { $0 != "-" }.replacingOccurrences(of: "\n", with: "")
        return Data(base64Encoded: b64).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A header's value, folded lines joined and RFC 2047 words (`=?utf-8?B?…?=`) decoded.
    static func header(_ eml: String, _ name: String) -> String? {
        let unfolded = eml.replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n", with: "\n")
        guard let raw = unfolded.split(separator: "\n").first(where: { $0.hasPrefix(name + ": ") }).map({ String($0.dropFirst(name.count + 2)) }) else { return nil }
        let words = raw.split(separator: " ")
        guard words.allSatisfy({ $0.hasPrefix("=?utf-8?B?") && $0.hasSuffix("?=") }) else { return raw }
        return words.map { w in
            Data(base64Encoded: String(w.dropFirst(10).dropLast(2))).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        }.joined()
    }

    @Test func emailChannelsSendATextAndAnHTMLPartOverSTARTTLSWithAuth() async throws {
        let server = try SMTPServer()
        defer { server.stop() }
        let passwordFile = server.dir + "/smtp-password"
        try "pa55word\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let repo = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start(env: ["GUARDIAN_SMTP_HOST": "127.0.0.1", "GUARDIAN_SMTP_PORT": String(server.port), "GUARDIAN_SMTP_USERNAME": "guardian",
                                    "GUARDIAN_SMTP_PASSWORD_FILE": passwordFile, "GUARDIAN_SMTP_FROM": "guardian@example.test",
                                    "GUARDIAN_SMTP_CA_FILE": server.cert, "GUARDIAN_PUBLIC_URL": "https://guardian.example.test"])
        defer { agent.stop() }
        let made = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "mailing", "team": "t"])
        let id = try #require(made.json["id"] as? String)
        _ = try await agent.waitForResult(project: id)
        let channel = try await agent.json("POST", "/v1/teams/t/channels", ["name": "leads", "kind": "email", "to": "lead@example.test, dev@example.test",
                                                                             "frequency": "immediate"])
        #expect(channel.status == 201 && channel.json["to"] as? [String] == ["lead@example.test", "dev@example.test"], "\(channel.text)")

        let test = try await agent.request("POST", "/v1/teams/t/channels/leads/test")
        #expect(test.json["delivered"] as? Bool == true && (test.json["answer"] as? String)?.hasPrefix("250") == true, "\(test.text)")

        try repo.write("app/other.py", "import os\n\n\ndef other(cmd):\n    \"\"\"Other <b>runner</b>.\"\"\"\n    os.system(cmd)\n")
        _ = try repo.commit("feat: another runner")
        try await DismissalTests.audit(agent, id)
        try await eventually("the alert's email is accepted", timeout: 20) { server.messages().count == 2 }
        let (eml, envelope) = server.messages()[1]
        #expect(envelope["tls"] as? Bool == true && envelope["authenticated"] as? Bool == true, "STARTTLS, then AUTH: \(envelope)")
        #expect(envelope["from"] as? String == "guardian@example.test" && envelope["to"] as? [String] == ["lead@example.test", "dev@example.test"])
        let delivery = try #require(Self.header(eml, "X-Guardian-Delivery"))
        #expect(delivery.hasPrefix("evt-") && Self.header(eml, "Message-ID") == "<\(delivery)@guardian>")
        #expect(Self.header(eml, "Subject")?.contains("Guardian: mailing") == true, "\(eml.prefix(600))")
        #expect(Self.header(eml, "Content-Type")?.hasPrefix("multipart/alternative; boundary=") == true)
        let text = try #require(Self.part(eml, "text/plain"), "a text part")
        let html = try #require(Self.part(eml, "text/html"), "an HTML part")
        #expect(text.contains("app/other.py") && text.contains("https://guardian.example.test/ui/projects/\(id)"), "\(text)")
        #expect(html.contains("<li>") && html.contains("app/other.py") && html.contains("href=\"https://guardian.example.test/ui/projects/\(id)\""), "\(html)")
        try await eventually("the history says sent with the server's answer", timeout: 10) {
            let n = try await agent.request("GET", "/v1/notifications?channel=t.leads").json["notifications"] as? [[String: Any]]
            return n?.first?["state"] as? String == "sent" && (n?.first?["lastAnswer"] as? String)?.hasPrefix("250") == true
        }
    }

    @Test func theServersRefusalsAreReportedAndNeverRetriedForever() async throws {
        let server = try SMTPServer(rejecting: "nobody@example.test")
        defer { server.stop() }
        let mail = AlertEmail(subject: "s", text: "t\n", html: "<p>h</p>").message(from: "guardian@example.test", to: ["a@example.test"],
                                                                               deliveryID: "evt-1", date: Date())
        let (ok, okAnswer) = await SMTPClient.send(mail, to: ["a@example.test"], settings: server.settings())
        #expect(ok == .delivered, "\(okAnswer)")
        let (badAuth, authAnswer) = await SMTPClient.send(mail, to: ["a@example.test"], settings: server.settings(password: "wrong"))
        #expect(badAuth == .rejected && authAnswer.contains("535"), "a 5xx is final: \(authAnswer)")
        let (badRcpt, rcptAnswer) = await SMTPClient.send(mail, to: ["nobody@example.test"], settings: server.settings())
        #expect(badRcpt == .rejected && rcptAnswer.contains("550"), "\(rcptAnswer)")
        let (clear, clearAnswer) = await SMTPClient.send(mail, to: ["a@example.test"], settings: server.settings(starttls: false))
        #expect(clear == .rejected && clearAnswer.contains("in clear"), "no password without TLS: \(clearAnswer)")
        var anonymous = server.settings(starttls: false)
        anonymous.username = nil
        let (noTLS, tlsAnswer) = await SMTPClient.send(mail, to: ["a@example.test"], settings: anonymous)
        #expect(noTLS == .rejected && tlsAnswer.contains("530"), "the server requires STARTTLS first: \(tlsAnswer)")
        var untrusted = server.settings()
        untrusted.caFile = nil
        let (badCert, certAnswer) = await SMTPClient.send(mail, to: ["a@example.test"], settings: untrusted)
        #expect(badCert == .retry(retryAfter: nil) && !certAnswer.isEmpty, "an unverified certificate is not trusted, and nothing is sent: \(certAnswer)")
        let (closed, closedAnswer) = await SMTPClient.send(mail, to: ["a@example.test"],
                                                          settings: SMTPSettings(host: "127.0.0.1", port: 9, username: nil, password: nil, from: "g@example.test",
                                                                                 starttls: true, caFile: nil))
        #expect(closed == .retry(retryAfter: nil), "a refused connection is tried again later: \(closedAnswer)")
        #expect(server.messages().count == 1)
    }

    /// A server that accepts the connection and then says nothing: the deadline ends the attempt,
    /// which is tried again later.
    @Test func aServerThatStallsIsLeftAtTheDeadline() async throws {
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["-c", "import socket,sys,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\nprint(s.getsockname()[1], flush=True)\nc=s.accept(); time.sleep(120)"]
        let output = Pipe()
        listener.standardOutput = output
        try listener.run()
        defer { listener.terminate() }
        let port = try #require(Int(String(decoding: output.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        let settings = SMTPSettings(host: "127.0.0.1", port: port, username: nil, password: nil, from: "g@example.test", starttls: true, caFile: nil)
        let (outcome, answer) = await SMTPClient.send(Array("x".utf8), to: ["a@example.test"], settings: settings, timeout: 1)
        #expect(outcome == .retry(retryAfter: nil) && answer.contains("the SMTP server"), "\(answer)")
    }
}
