import ArgumentParser
import Foundation
import GuardianHTTP

/// Where pull request results are written back (docs/pull-requests.md).
struct CodeHostOptions: ParsableArguments {
    @Option(name: .customLong("code-host"), help: "The code host's provider: github, gitlab, bitbucket or azure (detected from the URL on the public hosts; none removes the settings).")
    var provider: String?
    @Option(name: .customLong("code-host-api"), help: "The host's API base URL (GitHub Enterprise, self-managed GitLab, Azure DevOps Server).")
    var apiUrl: String?
    @Option(name: .customLong("code-host-repository"), help: "The repository as the host names it: OWNER/NAME, GROUP/NAME or PROJECT/REPO.")
    var repository: String?
    @Option(name: .customLong("code-host-token"), help: "A token that may set commit statuses and write comments (GUARDIAN_CODE_HOST_TOKEN keeps it off the command line; \"\" removes it).")
    var token: String?
    @Option(help: "At most this many review comments per push on GitHub (0 turns them off; default 10).")
    var reviewComments: Int?

    /// The `codeHost` body, or nil when no option names one. The token from the environment goes
    /// only with other options or to a host the URL names (`detectable`): a local repository's
    /// registration does not fail for a token exported for another one.
    func body(detectable: Bool = true) -> [String: Any]? {
        var h: [String: Any] = [:]
        if let provider { h["provider"] = provider }
        if let apiUrl { h["apiUrl"] = apiUrl }
        if let repository { h["repository"] = repository }
        if let reviewComments { h["reviewComments"] = reviewComments }
        if let token { h["token"] = token } else if let t = ProcessInfo.processInfo.environment["GUARDIAN_CODE_HOST_TOKEN"], !h.isEmpty || detectable {
            h["token"] = t
        }
        return h.isEmpty ? nil : h
    }
}

extension ProjectsCommand {
    struct CodeHostCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "code-host",
                                                        abstract: "Set where a project's pull request results are written back.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The project's id.") var id: String
        @OptionGroup var codeHost: CodeHostOptions
        func run() async throws {
            guard let h = codeHost.body(detectable: true) else { throw ValidationError("name at least one --code-host option") }
            let p = try await agent.client().decode(ProjectView.self, "PATCH", "/v1/projects/\(id)", json: ["codeHost": h], expect: [200])
            if let c = p.codeHost {
                print("\(p.id): \(c.provider) \(c.repository) at \(c.apiUrl), token \(c.hasToken ? "set" : "not set"); webhooks to \(p.webhookUrl)")
            } else {
                print("\(p.id): no code host")
            }
        }
    }
}
