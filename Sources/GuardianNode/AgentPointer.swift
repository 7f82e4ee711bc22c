import Foundation

/// Where a running agent is, for a CLI run on the same machine: its data directory and HTTP
/// address. The agent writes it twice: `DATA_DIR/agent.json` (so `--data-dir` or
/// `GUARDIAN_DATA_DIR` also finds the address), and `$XDG_STATE_HOME/guardian/agent.json`
/// (default `~/.local/state`) for the user who started it (so a CLI in another shell, with neither
/// set, finds the last agent this user started). Both are mode 0600 in directories only the user
/// can write: a pointer another user wrote would send the admin token to their server.
public struct AgentPointer: Codable, Sendable, Equatable {
    public var dataDir: String
    /// `scheme://host:port` (an older agent wrote `host:port`).
    public var httpAddr: String
    public var pid: Int32
    /// The agent's `tls_ca`: what a CLI verifies its certificate against.
    public var ca: String?
    /// The process's start time (clock ticks since boot, `/proc/PID/stat` field 22): with the pid,
    /// it names one process, so a pid reused by another process does not pass for the agent.
    public var started: UInt64?

    public init(dataDir: String, httpAddr: String, pid: Int32, ca: String? = nil) {
        self.dataDir = dataDir; self.httpAddr = httpAddr; self.pid = pid; self.ca = ca
        started = Self.startTime(pid)
    }

    /// Field 22 of `/proc/PID/stat`.
    static func startTime(_ pid: Int32) -> UInt64? {
        guard let f = ProcStat.fields("\(pid)"), f.count > 19 else { return nil }
        return UInt64(f[19])
    }

    /// Removes the files this agent wrote, when they still name it (a newer agent's are kept).
    public func remove(environment: [String: String]) {
        for file in [(dataDir as NSString).appendingPathComponent("agent.json"), Self.userFile(environment: environment)].compactMap({ $0 }) {
            guard let data = FileManager.default.contents(atPath: file), let p = try? JSONDecoder().decode(AgentPointer.self, from: data),
                  p.pid == pid, p.started == started else { continue }
            unlink(file)
        }
    }

    public static func userFile(environment: [String: String]) -> String? {
        if let x = environment["XDG_STATE_HOME"], x.hasPrefix("/") { return x + "/guardian/agent.json" }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return home + "/.local/state/guardian/agent.json"
    }

    /// Writes both files; a place that cannot be written (a read-only home under systemd) is skipped.
    public func write(environment: [String: String]) -> [String] {
        var written: [String] = []
        guard let data = try? JSONEncoder().encode(self) else { return written }
        for file in [(dataDir as NSString).appendingPathComponent("agent.json"), Self.userFile(environment: environment)].compactMap({ $0 }) {
            let dir = (file as NSString).deletingLastPathComponent
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                let tmp = file + ".tmp"
                guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else { continue }
                guard rename(tmp, file) == 0 else { unlink(tmp); continue }
                written.append(file)
            } catch { continue }
        }
        return written
    }

    /// The pointer in `file`, when the file is the caller's own and not writable by others, and
    /// the process it names still runs as the caller, started when the pointer says; nil otherwise.
    /// (An agent stopped by kill -9 leaves its file: its pid, reused by another user's process,
    /// must not get the admin token.)
    public static func read(_ file: String) -> AgentPointer? {
        var st = stat()
        guard stat(file, &st) == 0, st.st_uid == geteuid(), st.st_mode & 0o022 == 0,
              let data = FileManager.default.contents(atPath: file),
              let p = try? JSONDecoder().decode(AgentPointer.self, from: data), p.pid > 0, kill(p.pid, 0) == 0
        else { return nil }
        var proc = stat()
        guard stat("/proc/\(p.pid)", &proc) == 0, proc.st_uid == geteuid(), let started = p.started, startTime(p.pid) == started else { return nil }
        return p
    }

    /// `httpAddr` as a client on the same host dials it (a wildcard bind answers on loopback).
    public var localAddress: String { Self.local(httpAddr) }

    /// `0.0.0.0:P` (a wildcard bind) as `127.0.0.1:P`, a scheme kept; any other address as it is.
    public static func local(_ httpAddr: String) -> String {
        var scheme = ""
        var rest = Substring(httpAddr)
        if let r = httpAddr.range(of: "://") { scheme = String(httpAddr[..<r.upperBound]); rest = httpAddr[r.upperBound...] }
        guard let colon = rest.lastIndex(of: ":") else { return httpAddr }
        let host = rest[..<colon]
        let port = rest[rest.index(after: colon)...]
        switch host {
        case "0.0.0.0", "": return "\(scheme)127.0.0.1:\(port)"
        case "::", "[::]": return "\(scheme)[::1]:\(port)"
        default: return httpAddr
        }
    }
}
