import GuardianStore
import GuardianCrypto

/// What a member asserts when it forwards an HTTP request to another member: who it is, which
/// member the request is for, the method, path and a hash of the body it sends, and on whose behalf
/// (the caller it authenticated, or a webhook whose signature it checked). No user token crosses the
/// network: the forwarding node authenticates the caller and the owner trusts this claim, which
/// travels sealed with the cluster key (time and nonce inside: it opens once, within the replay
/// window, and only on the member it names).
public struct MemberClaim: Sendable, Equatable {
    public enum Caller: Sendable, Equatable {
        /// A token's principal (role, team, token id), authenticated by the forwarding node.
        case token(Principal)
        /// A webhook for this project whose signature the forwarding node verified.
        case webhook(project: String)
        /// The member itself, on its own behalf (an alert's final delivery record for the other owners).
        case member
    }

    public var from: String
    public var to: String
    public var method: String
    public var path: String
    /// BLAKE2b-256 of the body, hex.
    public var bodyHash: String
    public var caller: Caller

    public init(from: String, to: String, method: String, path: String, bodyHash: String, caller: Caller) {
        self.from = from; self.to = to; self.method = method; self.path = path; self.bodyHash = bodyHash; self.caller = caller
    }

    static let magic = "guardian-member-v2"

    public static func hash(body: [UInt8]) -> String { Sodium.hex(Sodium.blake2b(body, length: 32)) }

    /// One field per line. No field can hold a newline: node names and teams are ids, a method is a
    /// token, a path is a URI (a raw newline is not allowed in one).
    public func encode() -> [UInt8] {
        let who: String
        switch caller {
        case .token(let p): who = "token \(p.role.rawValue) \(p.team ?? "-") \(p.tokenId)"
        case .webhook(let project): who = "webhook \(project)"
        case .member: who = "member"
        }
        return Array([Self.magic, from, to, method, path, bodyHash, who].joined(separator: "\n").utf8)
    }

    public static func decode(_ bytes: [UInt8]) -> MemberClaim? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count == 7, lines[0] == magic else { return nil }
        let who = lines[6].split(separator: " ").map(String.init)
        let caller: Caller
        switch who.first {
        case "token"?:
            guard who.count == 4, let role = Principal.Role(rawValue: who[1]) else { return nil }
            caller = .token(Principal(role: role, team: who[2] == "-" ? nil : who[2], tokenId: who[3]))
        case "webhook"?:
            guard who.count == 2 else { return nil }
            caller = .webhook(project: who[1])
        case "member"?:
            guard who.count == 1 else { return nil }
            caller = .member
        default:
            return nil
        }
        return MemberClaim(from: lines[1], to: lines[2], method: lines[3], path: lines[4], bodyHash: lines[5], caller: caller)
    }
}
