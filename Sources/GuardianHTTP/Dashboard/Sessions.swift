import Foundation
import GuardianCrypto
import GuardianNode
import GuardianStore
import HTTPTypes
import Hummingbird
import Synchronization

/// The dashboard's login sessions, in memory: a random 256-bit id in an `HttpOnly`,
/// `SameSite=Strict` cookie names the token's id, role and team, and a CSRF token that every form
/// carries. A session ends at logout, at its expiry, when its token is revoked or changes role or
/// team (checked on every request), and when the node restarts (the user logs in again). The
/// token's secret is never kept.
final class Sessions: Sendable {
    struct Session: Sendable {
        var principal: Principal
        var csrf: String
        var expires: Double
    }

    static let cookie = "guardian_session"
    /// The login form's own CSRF cookie (double submit): a login cannot be forced from another site.
    static let loginCookie = "guardian_login"
    static let lifetime: Double = 12 * 3600
    static let maxSessions = 10_000
    /// Sessions one token may hold: its own oldest goes first, so one token cannot push others out.
    static let maxPerToken = 32

    private let entries = Mutex<[String: Session]>([:])
    let now: @Sendable () -> Double

    init(now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) { self.now = now }

    static func randomToken() -> String { Sodium.hex(Sodium.randomBytes(32)) }

    /// A new session for `p`; the oldest ones go when the table is full.
    func create(_ p: Principal) -> (id: String, session: Session) {
        let id = Self.randomToken()
        let s = Session(principal: p, csrf: Self.randomToken(), expires: now() + Self.lifetime)
        entries.withLock { e in
            let t = now()
            e = e.filter { $0.value.expires > t }
            let mine = e.filter { $0.value.principal.tokenId == p.tokenId }
            if mine.count >= Self.maxPerToken, let oldest = mine.min(by: { $0.value.expires < $1.value.expires }) { e[oldest.key] = nil }
            if e.count >= Self.maxSessions, let oldest = e.min(by: { $0.value.expires < $1.value.expires }) { e[oldest.key] = nil }
            e[id] = s
        }
        return (id, s)
    }

    /// The live session `id` names; an expired one is removed.
    func get(_ id: String) -> Session? {
        entries.withLock { e in
            guard let s = e[id] else { return nil }
            if s.expires <= now() { e[id] = nil; return nil }
            return s
        }
    }

    func end(_ id: String) { _ = entries.withLock { $0.removeValue(forKey: id) } }

    var count: Int { entries.withLock { $0.count } }

    /// Constant-time comparison of two CSRF tokens; an empty one matches nothing.
    static func same(_ a: String, _ b: String) -> Bool { !a.isEmpty && Sodium.constantTimeEqual(Array(a.utf8), Array(b.utf8)) }
}

extension Request {
    /// The value of cookie `name`, if the request carries it.
    func cookie(_ name: String) -> String? {
        for header in headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let kv = part.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == name {
                    return kv[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// Whether the client reached this node over TLS (directly, or through a proxy that says so).
    var overTLS: Bool { uri.scheme == .https || headers[HTTPField.Name("X-Forwarded-Proto")!] == "https" }
}

/// A `Set-Cookie` value with the dashboard's attributes.
func sessionCookie(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> String {
    "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(secure ? "; Secure" : "")"
}

/// An `application/x-www-form-urlencoded` body.
func formFields(_ body: ByteBuffer) -> [String: String] {
    var out: [String: String] = [:]
    for pair in String(buffer: body).split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1)
        func decode(_ s: Substring) -> String { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
        guard let k = kv.first else { continue }
        out[decode(k)] = kv.count == 2 ? decode(kv[1]) : ""
    }
    return out
}
