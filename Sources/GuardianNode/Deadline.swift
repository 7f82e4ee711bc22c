import GuardianCore
import GuardianMesh
import Foundation
import Synchronization

/// Runs `body`, cancelled with an error naming `what` when `seconds` pass first.
public func withDeadline<T: Sendable>(seconds: Double, _ what: String = "the operation",
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { g in
        g.addTask { try await body() }
        g.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            throw GuardianError.io("\(what) timed out after \(seconds) s")
        }
        defer { g.cancelAll() }
        return try await g.next()!
    }
}

/// Milliseconds since this value was made, on the monotonic clock: the mesh's protocol time.
struct MonotonicMillis: Sendable {
    let started = ContinuousClock.now
    func now() -> Millis {
        let d = (ContinuousClock.now - started).components
        return Millis(d.seconds * 1000 + d.attoseconds / 1_000_000_000_000_000)
    }
}

/// A blocking call that may never return (libgit2 before 1.7 has no network timeouts: a server
/// that accepts a connection and says nothing holds the call forever), run on a thread of its own.
/// The caller stops waiting after `seconds`; the thread is left to finish, or to hang, alone, off
/// the pool that audits run on. At most `limit` may be outstanding, hung ones included: past it a
/// call is refused at once rather than park one more thread.
public enum BlockingCall {
    static let outstanding = Mutex(0)
    public static let limit = 4
    public struct Busy: Error, CustomStringConvertible {
        public var what: String
        public var description: String { "too many \(what) calls are still waiting; try again later" }
    }

    public static func run<T: Sendable>(seconds: Double, _ what: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard outstanding.withLock({ n in
            guard n < limit else { return false }
            n += 1
            return true
        }) else { throw Busy(what: what) }
        let once = ResumeOnce<T>()
        return try await withCheckedThrowingContinuation { c in
            once.set(c)
            Thread {
                let result = Result { try body() }
                outstanding.withLock { $0 -= 1 }
                once.resume(result)
            }.start()
            // a timer of its own: the deadline holds even when the cooperative pool is busy
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                once.resume(.failure(GuardianError.io("\(what) timed out after \(Int(seconds)) s")))
            }
        }
    }
}

/// A continuation resumed by whichever comes first, the call or the deadline.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)
    func set(_ c: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = c } }
    func resume(_ r: Result<T, any Error>) { continuation.withLock { c in c?.resume(with: r); c = nil } }
}
