import Foundation

/// A condition that did not hold before its deadline: what was awaited, and the last error the
/// condition threw, if any.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public let seconds: Double
    public let lastError: (any Error)?
    public var description: String {
        "timed out after \(seconds) s waiting for: \(what)" + (lastError.map { " (last error: \($0))" } ?? "")
    }
}

/// Polls `condition` until it holds, and returns how long that took; throws `TimedOut` when it
/// does not hold within `timeout` seconds. An error the condition throws counts as "not yet" and
/// is reported if the deadline passes. The one polling helper of the suite.
@discardableResult
public func eventually(_ what: String, timeout: Double = 30, every interval: Duration = .milliseconds(100),
                       _ condition: () async throws -> Bool) async throws -> Double {
    let start = Date()
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return Date().timeIntervalSince(start) }
            lastError = nil
        } catch {
            lastError = error
        }
        if Date().timeIntervalSince(start) >= timeout { throw TimedOut(what: what, seconds: timeout, lastError: lastError) }
        try await Task.sleep(for: interval)
    }
}

/// Checks that `condition` holds at every poll for `seconds`: for "nothing happened" claims, which
/// one sample after a fixed sleep cannot make. Throws at the first poll where it does not hold.
public func holds(_ what: String, for seconds: Double, every interval: Duration = .milliseconds(250),
                  _ condition: () async throws -> Bool) async throws {
    let start = Date()
    repeat {
        guard try await condition() else { throw HoldBroken(what: what, after: Date().timeIntervalSince(start)) }
        try await Task.sleep(for: interval)
    } while Date().timeIntervalSince(start) < seconds
}

public struct HoldBroken: Error, CustomStringConvertible {
    public let what: String
    public let after: Double
    public var description: String { String(format: "stopped holding after %.2f s: %@", after, what) }
}
