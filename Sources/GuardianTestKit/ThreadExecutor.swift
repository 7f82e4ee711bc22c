import Foundation

/// A task executor with a thread of its own. A test's in-process server (an alert receiver, a fake
/// code host) started with this preference binds and answers while the cooperative pool's two
/// threads are held by other tests' blocking work; on the pool it waited minutes to start.
public final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = [] // guarded by `condition`

    /// One thread for every in-process server of a test process: their work is small.
    public static let servers = ThreadExecutor(name: "guardian-test-servers")

    private init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    private func run() -> Never {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
