import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore

/// Lists the rules of the eight checks.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rules", abstract: "List the audit rules of the eight checks.")

    enum Format: String, ExpressibleByArgument { case text, json, markdown }
    @Option(help: "Output format: text, json or markdown.")
    var format: Format = .text

    func run() throws {
        switch format {
        case .text:
            for r in RuleCatalog.all {
                print("\(r.id.padding(toLength: 36, withPad: " ", startingAt: 0)) \(r.severity.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(r.summary)")
            }
        case .json:
            let rows = RuleCatalog.all.map { ["id": $0.id, "check": $0.check.rawValue, "severity": $0.severity.rawValue,
                                              "scope": $0.scope.rawValue, "summary": $0.summary, "help": $0.help] }
            FileHandle.standardOutput.write(try ReportRenderer.json(rows))
        case .markdown:
            for check in Check.allCases {
                print("### \(check.rawValue) — \(check.question)\n")
                print("| rule | default severity | scope | needs | what it finds | what to do |")
                print("|---|---|---|---|---|---|")
                for r in RuleCatalog.rules(for: check) {
                    let needs = r.needsHistory ? "history" : (r.needsEvents ? "webhook events" : "—")
                    print("| `\(r.id)` | \(r.severity.rawValue) | \(r.scope.rawValue) | \(needs) | \(r.summary) | \(r.help) |")
                }
                print("")
            }
        }
    }
}
