import GuardianStore
import Foundation
import GuardianCrypto
import NIOCore

/// LAN discovery: each node announces itself by UDP broadcast on the discovery port (7947 by
/// default) of the loopback and private networks it is on, so that nodes started without `--join`
/// find each other. An announcement names the node, its id, public key and gossip address, is signed
/// with the node's Ed25519 key, and the whole is sealed with the cluster key: a node without the key
/// cannot read or forge one, and the signature binds the gossip address to the node's identity. A
/// receiver that does not know the sender joins it through an ordinary push-pull.
public enum Discovery {
    public struct Announcement: Codable, Equatable, Sendable {
        public var name: String
        public var id: String
        public var publicKey: String
        public var address: String
        public init(name: String, id: String, publicKey: String, address: String) {
            self.name = name; self.id = id; self.publicKey = publicKey; self.address = address
        }
    }

    /// `len(2) | JSON | Ed25519 signature(64)`, to be sealed with the cluster key.
    public static func encode(_ a: Announcement, signer: SigningKey) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        let json = [UInt8]((try? e.encode(a)) ?? Data())
        return [UInt8(json.count >> 8), UInt8(json.count & 0xFF)] + json + signer.sign(json)
    }

    /// The announcement, when it is well formed, its id is derived from its public key and the
    /// signature verifies; nil otherwise.
    public static func decode(_ bytes: [UInt8]) -> Announcement? {
        guard bytes.count > 2 + 64 else { return nil }
        let n = Int(bytes[0]) << 8 | Int(bytes[1])
        guard bytes.count == 2 + n + 64 else { return nil }
        let json = Array(bytes[2..<2 + n]), sig = Array(bytes[(2 + n)...])
        guard let a = try? JSONDecoder().decode(Announcement.self, from: Data(json)),
              let key = try? VerifyingKey(base64: a.publicKey), key.nodeID.value == a.id,
              key.verify(signature: sig, message: json) else { return nil }
        return a
    }

    /// Where to broadcast: loopback (127.255.255.255) and the broadcast address of each private
    /// (RFC 1918) IPv4 network this host is on; only the network of `host` when the gossip address
    /// is bound to one address rather than 0.0.0.0. Public networks are never announced to.
    static func targets(gossipHost host: String, port: Int) -> [SocketAddress] {
        var out: [String] = []
        if host == "0.0.0.0" || host.hasPrefix("127.") || host == "localhost" { out.append("127.255.255.255") }
        if !(host.hasPrefix("127.") || host == "localhost") {
            for d in (try? System.enumerateDevices()) ?? [] {
                guard let ip = d.address?.ipAddress, ip.contains("."), isPrivate(ip), host == "0.0.0.0" || host == ip,
                      let b = d.broadcastAddress?.ipAddress else { continue }
                out.append(b)
            }
        }
        return Array(Set(out)).sorted().compactMap { try? SocketAddress(ipAddress: $0, port: port) }
    }

    static func isPrivate(_ ip: String) -> Bool {
        let o = ip.split(separator: ".").compactMap { Int($0) }
        guard o.count == 4 else { return false }
        return o[0] == 10 || (o[0] == 172 && (16...31).contains(o[1])) || (o[0] == 192 && o[1] == 168)
    }
}
