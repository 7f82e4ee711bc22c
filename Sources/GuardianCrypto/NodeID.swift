/// A node's printable identity, derived from its Ed25519 public key like a Syncthing device id:
/// SHA-256 of the key, base32 (RFC 4648, no padding, 52 characters), four groups of 13 each followed
/// by a Luhn mod-32 check character, shown as eight dash-separated groups of seven.
/// A mistyped id is detected by its check characters; the key is bound to the id by the hash.
public struct NodeID: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let value: String

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    public init(publicKey: VerifyingKey) { self = publicKey.nodeID }

    /// Derives the id from the key's bytes (`VerifyingKey` does this once, when it is made).
    init(publicKeyBytes: [UInt8]) {
        let digest = Sodium.sha256(publicKeyBytes)
        let b32 = NodeID.base32(digest) // 52 characters
        var out: [UInt8] = []
        for g in 0..<4 {
            let group = Array(b32[(g * 13)..<(g * 13 + 13)])
            out += group
            out.append(NodeID.luhn32(group))
        }
        var dashed: [UInt8] = []
        for (i, c) in out.enumerated() {
            if i > 0 && i % 7 == 0 { dashed.append(45) }
            dashed.append(c)
        }
        value = String(decoding: dashed, as: UTF8.self)
    }

    /// Parses and checks an id (dashes, spaces and case are ignored).
    public init(parsing text: String) throws {
        let chars = Array(text.uppercased().utf8.filter { $0 != 45 && $0 != 32 })
        guard chars.count == 56, chars.allSatisfy({ NodeID.alphabet.contains($0) }) else {
            throw CryptoError("'\(text)' is not a node id: expected 56 base32 characters in groups of 7")
        }
        for g in 0..<4 {
            let group = Array(chars[(g * 14)..<(g * 14 + 13)])
            guard NodeID.luhn32(group) == chars[g * 14 + 13] else {
                throw CryptoError("'\(text)' is not a valid node id: check character \(g + 1) does not match (mistyped?)")
            }
        }
        var dashed: [UInt8] = []
        for (i, c) in chars.enumerated() {
            if i > 0 && i % 7 == 0 { dashed.append(45) }
            dashed.append(c)
        }
        value = String(decoding: dashed, as: UTF8.self)
    }

    public var description: String { value }
    /// The first group, for display.
    public var short: String { String(value.prefix(7)) }

    public static func < (a: NodeID, b: NodeID) -> Bool { a.value < b.value }

    static func base32(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for b in bytes {
            buffer = (buffer << 8) | Int(b)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    /// Luhn mod N (N = 32) check character over base32 characters.
    static func luhn32(_ chars: [UInt8]) -> UInt8 {
        var factor = 1, sum = 0
        let n = 32
        for c in chars {
            let code = alphabet.firstIndex(of: c)!
            var addend = factor * code
            factor = factor == 2 ? 1 : 2
            addend = addend / n + addend % n
            sum += addend
        }
        let remainder = sum % n
        return alphabet[(n - remainder) % n]
    }
}
