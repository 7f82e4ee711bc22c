import Foundation
import GuardianCore

/// An alert as an email (RFC 5322 with MIME): `multipart/alternative` with a text part and an HTML
/// part, both UTF-8 in base64 (lines of 76), so no line of a repository's text can end the DATA
/// phase or break the headers. Pure: the SMTP client carries the bytes.
public struct AlertEmail: Sendable, Equatable {
    public var subject: String
    public var text: String
    public var html: String

    public init(_ events: [AlertEvent], _ c: AlertContext) {
        subject = AlertMessages.headline(events, c)
        var t = events.map(AlertMessages.line).joined(separator: "\n")
        t += "\n\nteam \(c.team)" + (c.commit.map { " · commit \($0.prefix(10))" } ?? "")
        if let link = c.link { t += "\n\(link)" }
        text = t + "\n"
        let items = events.map { "<li>\(HTML.escape(AlertMessages.line($0).dropFirst(2)))</li>" }.joined()
        var h = "<!doctype html><html><body><h2>\(HTML.escape(subject))</h2><ul>\(items)</ul>"
        h += "<p>team \(HTML.escape(c.team))" + (c.commit.map { " · commit <code>\(HTML.escape($0.prefix(10)))</code>" } ?? "") + "</p>"
        if let link = c.link { h += "<p><a href=\"\(HTML.escape(link))\">Open in Guardian</a></p>" }
        html = h + "</body></html>"
    }

    public init(subject: String, text: String, html: String) { self.subject = subject; self.text = text; self.html = html }

    /// The message's bytes, CRLF line ends, ready for DATA (no line starts with a dot: base64 and
    /// the headers below never do).
    public func message(from: String, to: [String], deliveryID: String, date: Date) -> [UInt8] {
        let boundary = "guardian-" + deliveryID.filter { $0.isLetter || $0.isNumber || $0 == "-" }
        let headers = [
            "From: \(from)",
            "To: \(to.joined(separator: ", "))",
            "Subject: \(Self.encodedWord(subject))",
            "Date: \(Self.rfc5322Date(date))",
            "Message-ID: <\(deliveryID)@guardian>",
            "X-Guardian-Delivery: \(deliveryID)",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
        ]
        var lines = headers + [""]
        for (type, body) in [("text/plain", text), ("text/html", html)] {
            lines += ["--\(boundary)", "Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", ""]
            lines += Self.base64Lines(Array(body.utf8))
        }
        lines += ["--\(boundary)--", ""]
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    /// An RFC 2047 encoded word when the text is not plain printable ASCII (a header holds no raw UTF-8
    /// or line break); each word within the 75-character limit.
    static func encodedWord(_ s: String) -> String {
        let clean = s.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if clean.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value < 127 }) { return String(clean.prefix(900)) }
        var words: [String] = []
        var chunk = ""
        for ch in clean.prefix(300) {
            // 45 bytes of UTF-8 make 60 base64 characters: with "=?utf-8?B?" and "?=" within 75
            if chunk.utf8.count + String(ch).utf8.count > 45 {
                words.append("=?utf-8?B?\(Data(chunk.utf8).base64EncodedString())?=")
                chunk = ""
            }
            chunk.append(ch)
        }
        if !chunk.isEmpty { words.append("=?utf-8?B?\(Data(chunk.utf8).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    static func base64Lines(_ bytes: [UInt8]) -> [String] {
        let b = Data(bytes).base64EncodedString()
        var out: [String] = []
        var i = b.startIndex
        while i < b.endIndex {
            let j = b.index(i, offsetBy: 76, limitedBy: b.endIndex) ?? b.endIndex
            out.append(String(b[i..<j]))
            i = j
        }
        return out
    }

    static func rfc5322Date(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return f.string(from: d)
    }
}
