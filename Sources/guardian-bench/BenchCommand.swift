import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore

/// Measures an incremental audit in process, as the agent runs it after a webhook: the parent
/// commit is audited first (warming the caches), then the child commit, whose changed blobs are
/// the only ones analysed. Repeats with fresh caches and prints the median.
struct BenchIncrementalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incremental", abstract: "Benchmark an incremental audit in process.")

    @Argument var target: String
    @Option var base: String = "HEAD~1"
    @Option var head: String = "HEAD"
    @Option var repeats: Int = 5
    @Option var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        var times: [Double] = []
        var misses = 0
        for _ in 0..<max(1, repeats) {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-bench-\(UUID())").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            Auditor.resetMemoryCache()
            var o = AuditOptions(target: target)
            o.cacheDirectory = dir
            o.jobs = jobs
            o.revision = base
            _ = try Auditor.run(o)
            o.revision = head
            let clock = ContinuousClock()
            let start = clock.now
            let r = try Auditor.run(o)
            let d = start.duration(to: clock.now)
            times.append(d.milliseconds)
            misses = r.timing.cacheMisses
        }
        times.sort()
        let median = times[times.count / 2]
        print(String(format: "incremental audit in process: median %.1f ms over %d runs (min %.1f, max %.1f); blobs analysed: %d",
                     median, times.count, times.first!, times.last!, misses))
    }
}
