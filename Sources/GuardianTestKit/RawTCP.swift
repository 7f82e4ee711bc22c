import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection on loopback for tests that speak to an agent as an attacker would: half a
/// request head, a frame header that declares 16 MB, a hand-sealed stream frame. Blocking, with
/// deadlines on every read.
public final class RawTCP: @unchecked Sendable { // used from one test at a time
    private var fd: Int32

    /// `from`: a local address to connect from (another loopback address, 127.0.0.2, is another host
    /// as the agent counts them).
    public init(host: String = "127.0.0.1", port: Int, from: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError(message: "socket: \(String(cString: strerror(errno)))") }
        if let from {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, from, &local.sin_addr)
            let rc = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard rc == 0 else {
                let why = String(cString: strerror(errno))
                close(fd)
                throw FixtureError(message: "bind to \(from): \(why)")
            }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw FixtureError(message: "connect to \(host):\(port): \(why)")
        }
    }

    deinit { close(fd) }

    /// Sends all of `bytes`; false when the peer has closed the connection.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// Bytes received within `seconds`, until `until` says enough or the peer closes. nil when the
    /// peer closed before anything arrived.
    public func receive(seconds: Double, until: ([UInt8]) -> Bool = { _ in false }) -> [UInt8]? {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = max(1, Int32(deadline.timeIntervalSinceNow * 1000))
            guard poll(&p, 1, left) > 0 else { break }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return out.isEmpty ? nil : out }
            out += buf[0..<n]
            if until(out) { break }
        }
        return out
    }

    /// Whether the peer closes the connection within `seconds` (anything it sends meanwhile is read
    /// and dropped).
    public func closedByPeer(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, max(1, Int32(deadline.timeIntervalSinceNow * 1000))) > 0 else { continue }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return true }
        }
        return false
    }
}
