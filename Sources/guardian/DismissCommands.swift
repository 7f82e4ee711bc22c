import ArgumentParser
import Foundation
import GuardianCore
import GuardianHTTP
import GuardianStore

/// `guardian dismiss PROJECT FINGERPRINT --reason …`: dismisses a finding mesh-wide; every owner's
/// next audit reports it as suppressed (external) and counts it toward nothing.
struct DismissCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dismiss",
        abstract: "Dismiss a project's finding by its fingerprint (or restore it with --undo).",
        discussion: "Reasons: false_positive, wont_fix, accepted_risk. Needs a maintainer token of the project's team, or an admin token.")

    @OptionGroup var agent: AgentOptions
    @Argument(help: "The project id.") var project: String
    @Argument(help: "The finding's fingerprint (32 hex digits; `guardian results`, the JSON report or SARIF's guardian/v1).") var fingerprint: String
    @Option(help: "false_positive, wont_fix or accepted_risk.") var reason: String?
    @Option(help: "Why, in a sentence (shown in reports and SARIF).") var comment: String?
    @Option(help: "The finding's rule id, when the agent has not seen the finding yet.") var rule: String?
    @Flag(help: "Restore the finding instead.") var undo = false
    @Option(help: "Output format: text or json.") var format: ListFormat = .text

    func run() async throws {
        let client = try agent.client()
        if undo {
            _ = try await client.object("DELETE", "/v1/projects/\(project)/dismissals/\(fingerprint)", expect: [204])
            print("restored \(fingerprint) in \(project)")
            return
        }
        guard let reason else { throw ValidationError("--reason is required: false_positive, wont_fix or accepted_risk") }
        var body: [String: Any] = ["fingerprint": fingerprint, "reason": reason]
        if let comment { body["comment"] = comment }
        if let rule { body["ruleId"] = rule }
        let d = try await client.decode(DismissalRecord.self, "POST", "/v1/projects/\(project)/dismissals", json: body, expect: [201])
        if format == .json { try printEncoded(d) } else { print("dismissed \(d.ruleId) \(fingerprint) in \(project) as \(reason)") }
    }
}

/// `guardian dismissals PROJECT`: the project's dismissed findings.
struct DismissalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dismissals", abstract: "List a project's dismissed findings.")
    @OptionGroup var agent: AgentOptions
    @Argument(help: "The project id.") var project: String
    @Option(help: "Output format: text or json.") var format: ListFormat = .text

    func run() async throws {
        let items = try await agent.client().decode(Items<DismissalRecord>.self, "GET", "/v1/projects/\(project)/dismissals").items
        if format == .json { try printEncoded(items); return }
        for d in items {
            print("\(d.fingerprint)  \(d.ruleId.padding(toLength: 34, withPad: " ", startingAt: 0))"
                  + " \(d.reason.padding(toLength: 15, withPad: " ", startingAt: 0)) \(d.comment ?? "")")
        }
        if items.isEmpty { print("no dismissals in \(project)") }
    }
}
