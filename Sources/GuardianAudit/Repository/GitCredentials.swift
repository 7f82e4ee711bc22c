import CGit2
import Foundation
import GuardianCore

/// HTTPS credentials for a private repository: a user name and a password or access token.
public struct GitCredentials: Sendable, Equatable {
    public var username: String
    public var secret: String
    public init(username: String, secret: String) { self.username = username; self.secret = secret }

    /// Parses what a project is registered with: `USER:SECRET`, or a bare token (GitHub, GitLab and
    /// Bitbucket accept a token as the password of any user; `x-access-token` is used).
    public init?(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty else { return nil }
        if let colon = t.firstIndex(of: ":"), colon != t.startIndex {
            username = String(t[..<colon]); secret = String(t[t.index(after: colon)...])
        } else {
            username = "x-access-token"; secret = t
        }
    }
}

/// The server refused a fetch's credentials (it asked for them again after they were given).
public struct CredentialsRefused: Error, CustomStringConvertible, Sendable {
    public var username: String
    public var description: String { "the server refused the credentials (as user \(username))" }
}

/// What libgit2's credential callback reads through its payload pointer. libgit2 asks again after a
/// rejected login; the callback answers once and then gives up, so a wrong password is one clear
/// error, not a loop. The caller keeps the box alive for the duration of the network call.
final class CredentialBox {
    let credentials: GitCredentials
    var attempts = 0
    /// The server asked again after the credentials were given: it refused them.
    var refused = false
    init(_ c: GitCredentials) { credentials = c }

    static func install(_ credentials: GitCredentials?, into callbacks: inout git_remote_callbacks) -> CredentialBox? {
        guard let credentials else { return nil }
        let box = CredentialBox(credentials)
        callbacks.payload = Unmanaged.passUnretained(box).toOpaque()
        callbacks.credentials = { out, _, _, allowed, payload in
            guard let out, let payload else { return -1 }
            let box = Unmanaged<CredentialBox>.fromOpaque(payload).takeUnretainedValue()
            guard box.attempts == 0 else {
                box.refused = true
                return GIT_EAUTH.rawValue
            }
            box.attempts += 1
            guard allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else { return GIT_PASSTHROUGH.rawValue }
            return git_credential_userpass_plaintext_new(out, box.credentials.username, box.credentials.secret)
        }
        return box
    }
}
