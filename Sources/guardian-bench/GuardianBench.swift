import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore

/// The benchmarks: real repositories, the simulators and fuzzing. A separate executable so that the
/// shipped `guardian` links neither the test kit nor the simulators (`make bench*` call this).
@main
struct GuardianBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guardian-bench",
        abstract: "Guardian's benchmarks (see docs/benchmarks.md).",
        version: Auditor.version,
        subcommands: [BenchIncrementalCommand.self, BenchStoreCommand.self, BenchMeshCommand.self, BenchReplicationCommand.self,
                      BenchAirGapCommand.self, BenchShardsCommand.self, BenchFuzzCommand.self, BenchDashboardCommand.self])

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var a = command as? any AsyncParsableCommand { try await a.run() } else { try command.run() }
        } catch let e as GuardianError {
            FileHandle.standardError.write(Data("guardian-bench: \(e.description)\n".utf8))
            Foundation.exit(2)
        } catch {
            exit(withError: error)
        }
    }
}
