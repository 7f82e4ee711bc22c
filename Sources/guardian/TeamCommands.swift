import ArgumentParser
import Foundation
import GuardianCore
import GuardianHTTP

/// `guardian teams`: a team's profile (thresholds, weights, gate, notification frequency).
struct TeamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teams", abstract: "Show or set a team's profile.", subcommands: [Show.self, Set.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a team's profile as JSON (the standard profile until one is set).")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The team.") var team: String

        func run() async throws {
            printJSON(try await agent.client().object("GET", "/v1/teams/\(team)"))
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Set a team's profile from a JSON file (configs/teams/ has examples). Needs a maintainer token of the team, or an admin token.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The team.") var team: String
        @Option(help: "The profile, a JSON file ('-' for standard input).") var profile: String

        func run() async throws {
            let data: Data
            if profile == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else {
                guard let d = FileManager.default.contents(atPath: profile) else { throw GuardianError.usage("cannot read \(profile)") }
                data = d
            }
            guard let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw GuardianError.usage("\(profile) is not a JSON object")
            }
            _ = try await agent.client().object("PUT", "/v1/teams/\(team)", json: body)
            print("team \(team): profile saved")
        }
    }
}

/// `guardian tokens`: API tokens without curl.
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "List, create and revoke API tokens.", subcommands: [List.self, Create.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens (every one for an admin, the team's for a maintainer); secrets are never shown.")
        @OptionGroup var agent: AgentOptions
        @Option(help: "Output format: text or json.") var format: ListFormat = .text

        func run() async throws {
            let list = try await agent.client().decode(TokenList.self, "GET", "/v1/tokens")
            if format == .json { return try printEncoded(list) }
            for t in list.tokens {
                let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: t.createdAt))
                print("\(t.id)  \(t.role)\(t.team.isEmpty ? "" : " of \(t.team)")  \(t.name)  created \(when)")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Create a token and print its secret (shown once).",
            discussion: "Admins create any token; a maintainer creates maintainer and viewer tokens of its own team.")
        @OptionGroup var agent: AgentOptions
        @Option(help: "admin, maintainer or viewer.") var role: String
        @Option(help: "The team (required for maintainer and viewer tokens).") var team: String?
        @Option(help: "A name to recognise the token by in lists.") var name: String?
        @Option(help: "Output format: text (the secret alone) or json.") var format: ListFormat = .text

        func run() async throws {
            var body: [String: Any] = ["role": role]
            if let team { body["team"] = team }
            if let name { body["name"] = name }
            let t = try await agent.client().decode(TokenCreated.self, "POST", "/v1/tokens", json: body, expect: [201])
            if format == .json { return try printEncoded(t) }
            print(t.token)
            FileHandle.standardError.write(Data("token \(t.id): \(t.role)\(t.team.isEmpty ? "" : " of \(t.team)") (the secret above is not shown again)\n".utf8))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token by its id (admin); its dashboard sessions end too.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The token's id (guardian tokens list).") var id: String

        func run() async throws {
            _ = try await agent.client().object("DELETE", "/v1/tokens/\(id)", expect: [204])
            print("revoked token \(id)")
        }
    }
}
