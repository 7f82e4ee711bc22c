import Foundation
import Synchronization

/// The systemd notification protocol (`sd_notify(3)`): datagrams such as `READY=1` to the Unix
/// socket named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Without the
/// variable, as outside a `Type=notify` unit, there is no notifier.
public struct SystemdNotifier: Sendable {
    let address: [UInt8]
    /// Half of `WATCHDOG_USEC`, when systemd watches this process (`WatchdogSec=`).
    public let watchdogInterval: Duration?

    public init?(environment: [String: String]) {
        guard let socket = environment["NOTIFY_SOCKET"], socket.hasPrefix("/") || socket.hasPrefix("@"),
              socket.utf8.count < 108 else { return nil }
        var bytes = Array(socket.utf8)
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
        address = bytes
        // WATCHDOG_PID, when set, names the process systemd watches: another one's must be ignored.
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if forUs, let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends one state datagram; false when it could not be sent (systemd gone, a wrong path).
    @discardableResult
    public func send(_ state: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { path in
            for (i, b) in address.enumerated() { path[i] = b }
        }
        // an abstract address's length counts its bytes exactly (no terminating NUL)
        let length = socklen_t(MemoryLayout<sa_family_t>.size + address.count + (address[0] == 0 ? 0 : 1))
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == payload.count
    }
}

/// `READY=1` once every part that must be up has said so (the HTTP server bound, the gossip sockets
/// bound when there is a mesh), and never twice.
public final class Readiness: Sendable {
    private let state: Mutex<(waiting: Set<String>, sent: Bool)>
    private let ready: @Sendable () -> Void

    public init(waitingFor parts: Set<String>, ready: @escaping @Sendable () -> Void) {
        state = Mutex((parts, false))
        self.ready = ready
    }

    public func up(_ part: String) {
        let fire = state.withLock { s -> Bool in
            s.waiting.remove(part)
            guard s.waiting.isEmpty, !s.sent else { return false }
            s.sent = true
            return true
        }
        if fire { ready() }
    }
}
