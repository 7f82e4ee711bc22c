import Foundation

/// Phase timings on stderr when GUARDIAN_TRACE=1 (for profiling; never part of a report).
public enum Trace {
    static let enabled = ProcessInfo.processInfo.environment["GUARDIAN_TRACE"] == "1"
    nonisolated(unsafe) static var last = DispatchTime.now().uptimeNanoseconds

    public static func mark(_ what: @autoclosure () -> String) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        FileHandle.standardError.write(Data(String(format: "[trace] %7.2f ms  %@\n", Double(Int64(bitPattern: now &- last)) / 1e6, what()).utf8))
        last = now
    }
}
