import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore

@main
struct Guardian: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guardian",
        abstract: "Guardian: a peer-to-peer code-quality audit mesh.",
        discussion: "Exit codes: 0 passed, 1 the gate failed, 2 usage or runtime error.",
        version: Auditor.version,
        subcommands: [AuditCommand.self, AgentCommand.self, ProjectsCommand.self, StatusCommand.self, ResultsCommand.self,
                      VerifyCommand.self, IdentityCommand.self, KeygenCommand.self, MembersCommand.self, JoinCommand.self,
                      LeaveCommand.self, ForceLeaveCommand.self, KeysCommand.self, ExportCommand.self, ImportCommand.self,
                      DismissCommand.self, DismissalsCommand.self, ChannelsCommand.self, NotificationsCommand.self, RulesCommand.self,
                      FunctionsCommand.self, TeamsCommand.self, TokensCommand.self, BackupCommand.self, RestoreCommand.self])

    /// Runs the command and maps errors to exit code 2 with a one-line reason.
    static func mainEntry() async {
        if CommandLine.arguments.dropFirst().first == "audit" { Auditor.prepareGit() }
        do {
            var command = try parseAsRoot()
            if var a = command as? any AsyncParsableCommand { try await a.run() } else { try command.run() }
            // here, not after `main` returns: the runtime would start a thread only to call exit
            Foundation.exit(0)
        } catch let e as GuardianError {
            FileHandle.standardError.write(Data("guardian: \(e.description)\n".utf8))
            Foundation.exit(2)
        } catch let e as ExitCode {
            Foundation.exit(e.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { Guardian.exit(withError: error) }
            FileHandle.standardError.write(Data("guardian: \(fullMessage(for: error).split(separator: "\n").first ?? "error")\n".utf8))
            if code == .validationFailure { FileHandle.standardError.write(Data("(see guardian help)\n".utf8)) }
            Foundation.exit(2)
        }
    }

    static func main() async { await mainEntry() }
}
