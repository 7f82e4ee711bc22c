import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Sends raw datagrams (forged, garbled, replayed, oversized) at an agent's gossip port.
public enum UDP {
    public static func send(_ bytes: [UInt8], to address: String) throws {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw FixtureError(message: "bad address \(address)")
        }
        let host = String(address[..<colon])
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError(message: "socket failed") }
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &sa.sin_addr) == 1 else { throw FixtureError(message: "bad IPv4 address \(host)") }
        let sent = withUnsafePointer(to: &sa) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard sent == bytes.count else { throw FixtureError(message: "sendto failed") }
    }
}
