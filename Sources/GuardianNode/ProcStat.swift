import Foundation

/// The fields of `/proc/PID/stat` after the command name, which may hold spaces and parentheses
/// and so is skipped up to its last `)`: element 0 is field 3 (state), element N is field N + 3.
enum ProcStat {
    static func fields(_ pid: String = "self") -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}
