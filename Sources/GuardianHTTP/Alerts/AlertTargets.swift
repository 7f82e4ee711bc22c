import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// Where an alert channel may send: https to a public address. Private, loopback, link-local,
/// shared (CGNAT), multicast and unspecified addresses, and plain http, only when the operator
/// allows them (`alert_allow_private_targets`): a maintainer's channel must not make the node a
/// client of its own network. Checked when a channel is saved (a literal address) and before every
/// send (what the name resolves to then).
public struct AlertTargets: Sendable {
    public var allowPrivate: Bool
    public init(allowPrivate: Bool) { self.allowPrivate = allowPrivate }

    public struct Refused: Error, CustomStringConvertible { public var description: String }

    /// Checks the URL's form, and its host when it is an address.
    public func checkForm(_ url: String) throws {
        guard let u = URLComponents(string: url), let scheme = u.scheme?.lowercased(), let host = u.host, !host.isEmpty else {
            throw Refused(description: "the url is not an http(s) URL with a host")
        }
        if scheme != "https" && !(scheme == "http" && allowPrivate) {
            throw Refused(description: "the url must be https (plain http needs alert_allow_private_targets on this node)")
        }
        if !allowPrivate, let a = Self.literal(Self.bare(host)), Self.isPrivate(a) {
            throw Refused(description: "the url names a private, loopback or link-local address (alert_allow_private_targets is off)")
        }
    }

    /// Checks the form, then every address the host resolves to now.
    public func check(_ url: String) async throws {
        try checkForm(url)
        guard !allowPrivate, let host = URLComponents(string: url)?.host else { return }
        let port = URLComponents(string: url)?.port ?? 443
        let addresses: [SocketAddress]
        do {
            addresses = try await Self.resolve(Self.bare(host), port: port)
        } catch {
            throw Refused(description: "the channel's host \(host) does not resolve")
        }
        if addresses.isEmpty || addresses.contains(where: Self.isPrivate) {
            throw Refused(description: "the channel's host \(host) resolves to a private, loopback or link-local address (alert_allow_private_targets is off)")
        }
    }

    /// The address a host names by itself: IPv6, dotted IPv4, or the forms `inet_aton` also reads
    /// and resolvers accept (`2130706433`, `0x7f.1`, `017700000001`).
    static func literal(_ host: String) -> SocketAddress? {
        if let a = try? SocketAddress(ipAddress: host, port: 0) { return a }
        var v4 = in_addr()
        guard inet_aton(host, &v4) != 0 else { return nil }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr = v4
        return SocketAddress(sin, host: host)
    }

    static func bare(_ host: String) -> String { host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host }

    /// Every address the host resolves to, off the cooperative pool (getaddrinfo blocks).
    static func resolve(_ host: String, port: Int) async throws -> [SocketAddress] {
        try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, String(port), &hints, &list) == 0 else {
                    return c.resume(throwing: Refused(description: "\(host) does not resolve"))
                }
                defer { freeaddrinfo(list) }
                var out: [SocketAddress] = []
                var p = list
                while let a = p {
                    if let sa = a.pointee.ai_addr {
                        switch a.pointee.ai_family {
                        case AF_INET: out.append(sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                        case AF_INET6: out.append(sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                        default: break
                        }
                    }
                    p = a.pointee.ai_next
                }
                c.resume(returning: out)
            }
        }
    }

    /// Not a public unicast address.
    public static func isPrivate(_ a: SocketAddress) -> Bool {
        switch a {
        case .v4(let v4):
            let b = withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) } // network order
            return isPrivateV4(b)
        case .v6(let v6):
            let b = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible addresses are judged as IPv4
            if b[0..<10].allSatisfy({ $0 == 0 }) && ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0)) {
                return isPrivateV4(Array(b[12..<16]))
            }
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address a gateway reaches
            if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4..<12].allSatisfy({ $0 == 0 }) { return isPrivateV4(Array(b[12..<16])) }
            if b[0] == 0x20 && b[1] == 0x02 { return isPrivateV4(Array(b[2..<6])) }
            if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0 { return true }   // Teredo 2001::/32
            if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 { return true }             // fec0::/10 site-local
            if b.allSatisfy({ $0 == 0 }) { return true }                      // ::
            if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true } // ::1
            if b[0] & 0xfe == 0xfc { return true }                             // fc00::/7 unique local
            if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return true }             // fe80::/10 link-local
            if b[0] == 0xff { return true }                                    // multicast
            if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8 { return true } // documentation
            return false
        default:
            return true
        }
    }

    static func isPrivateV4(_ b: [UInt8]) -> Bool {
        switch b[0] {
        case 0, 10, 127: return true
        case 100: return b[1] & 0xc0 == 64            // 100.64.0.0/10
        case 169: return b[1] == 254                   // link-local (cloud metadata)
        case 172: return b[1] & 0xf0 == 16             // 172.16.0.0/12
        case 192: return (b[1] == 168) || (b[1] == 0 && (b[2] == 0 || b[2] == 2)) // private, IETF, TEST-NET-1
        case 198: return b[1] & 0xfe == 18             // benchmarking 198.18.0.0/15
        default: return b[0] >= 224                    // multicast and reserved
        }
    }
}
