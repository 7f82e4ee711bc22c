import Foundation

/// A value made on a thread of its own from the moment this is created (opening a cache while
/// the repository is read); `value` waits for it the first time and returns it every time.
final class Opening<T: Sendable>: @unchecked Sendable {
    private let made = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    /// Written once by the making thread before `made` is signalled; read after waiting on it.
    private var result: T?
    private var waited = false

    init(_ make: @escaping @Sendable () -> T) {
        Thread.detachNewThread { [self] in
            result = make()
            made.signal()
        }
    }

    /// A value already at hand.
    init(ready: T) {
        result = ready
        waited = true
    }

    var value: T {
        lock.lock()
        defer { lock.unlock() }
        if !waited {
            made.wait()
            waited = true
        }
        return result! // set before `made` was signalled, or by `init(ready:)`
    }
}
