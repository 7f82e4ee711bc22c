import GuardianCore
import GuardianMesh

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
