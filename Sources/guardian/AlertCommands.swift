import ArgumentParser
import Foundation
import GuardianCore
import GuardianHTTP

/// `guardian channels add|list|test|remove`: a team's alert channels (docs/alerts.md).
struct ChannelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channels", abstract: "Manage a team's alert channels (Slack, Discord, email, signed webhooks).",
        subcommands: [Add.self, List.self, Test.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add a channel to a team.",
            discussion: """
                Kinds: slack and discord (--url: the incoming webhook), webhook (--url, and --secret to sign with HMAC-SHA256), \
                email (--to; the agent's smtp_* settings send it). The URL and secret are credentials: GUARDIAN_CHANNEL_URL and \
                GUARDIAN_CHANNEL_SECRET keep them off the command line. Needs a maintainer token of the team, or an admin token.
                """)
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The team.") var team: String
        @Argument(help: "The channel's name (an id without '.').") var name: String
        @Option(help: "slack, discord, email or webhook.") var kind: String
        @Option(help: "Where to POST (slack, discord, webhook).") var url: String?
        @Option(help: "Email recipients, separated by commas.") var to: String?
        @Option(help: "The webhook's signing secret.") var secret: String?
        @Option(help: "Events, separated by commas (default: all): gate.failed, gate.recovered, check.status_changed, finding.new, health.dropped, audit.error.")
        var events: String?
        @Option(help: "Leave out finding.new below this severity: critical, high, medium, low, info (default info).") var minSeverity: String?
        @Option(help: "immediate, hourly, daily or weekly (default: the team profile's notification_frequency).") var frequency: String?
        @Flag(help: "Receive the events of every team's projects (admin tokens only).") var allTeams = false
        @Option(help: "text or json.") var format: ListFormat = .text

        func run() async throws {
            let env = ProcessInfo.processInfo.environment
            var body: [String: Any] = ["name": name, "kind": kind]
            if let u = url ?? env["GUARDIAN_CHANNEL_URL"], !u.isEmpty { body["url"] = u }
            if let s = secret ?? env["GUARDIAN_CHANNEL_SECRET"], !s.isEmpty { body["secret"] = s }
            if let to { body["to"] = to }
            if let events { body["events"] = events.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if let minSeverity { body["minSeverity"] = minSeverity }
            if let frequency { body["frequency"] = frequency }
            if allTeams { body["allTeams"] = true }
            let c = try await agent.client().decode(ChannelView.self, "POST", "/v1/teams/\(team)/channels", json: body, expect: [201])
            if format == .json { try printEncoded(c) } else { print("added \(c.kind) channel \(c.id) (\(c.host ?? c.to?.joined(separator: ", ") ?? ""), \(c.effectiveFrequency))") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List a team's channels.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The team.") var team: String
        @Option(help: "text or json.") var format: ListFormat = .text

        func run() async throws {
            struct Channels: Decodable { var channels: [ChannelView] }
            let list = try await agent.client().decode(Channels.self, "GET", "/v1/teams/\(team)/channels").channels
            if format == .json { try printEncoded(list); return }
            if list.isEmpty { print("team \(team) has no channels"); return }
            print("NAME".padding(toLength: 16, withPad: " ", startingAt: 0) + "KIND     " + "FREQUENCY  " + "SEVERITY  " + "TARGET")
            func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: n, withPad: " ", startingAt: 0) }
            for c in list {
                let target: String = c.host ?? c.to?.joined(separator: ", ") ?? ""
                let columns: [String] = [pad(c.name, 16), pad(c.kind, 9), pad(c.effectiveFrequency, 11), pad(c.minSeverity, 10)]
                print(columns.joined() + target + (c.hasSecret ? " (signed)" : "") + (c.allTeams ? " (every team)" : ""))
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "test", abstract: "Send a test message now and show what the receiver answered (exit 1 if it was not delivered).")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The team.") var team: String
        @Argument(help: "The channel's name.") var name: String

        func run() async throws {
            let r = try await agent.client().decode(ChannelTestView.self, "POST", "/v1/teams/\(team)/channels/\(name)/test")
            print("\(r.delivered ? "delivered" : "not delivered (\(r.outcome))"): \(r.answer)")
            if !r.delivered { throw ExitCode(1) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a channel.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The team.") var team: String
        @Argument(help: "The channel's name.") var name: String

        func run() async throws {
            _ = try await agent.client().object("DELETE", "/v1/teams/\(team)/channels/\(name)", expect: [204])
            print("removed \(team).\(name)")
        }
    }
}

/// `guardian notifications`: the alert history with each message's state and the receiver's answer.
struct NotificationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifications", abstract: "List alert messages: queued, retrying, sent, dead or expired, with the receiver's last answer.")
    @OptionGroup var agent: AgentOptions
    @Option(help: "Only this project's (answered by one of its owners).") var project: String?
    @Option(help: "Only this channel's (TEAM.NAME).") var channel: String?
    @Option(help: "Only this state: queued, retrying, sent, dead, expired.") var status: String?
    @Option(help: "At most this many, newest first.") var limit = 50
    @Option(help: "text or json.") var format: ListFormat = .text

    func run() async throws {
        var query = ["limit=\(limit)"]
        for (k, v) in [("project", project), ("channel", channel), ("status", status)] {
            if let v { query.append("\(k)=\(v.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? v)") }
        }
        struct List: Decodable { var notifications: [NotificationView] }
        let items = try await agent.client().decode(List.self, "GET", "/v1/notifications?" + query.joined(separator: "&")).notifications
        if format == .json { try printEncoded(items); return }
        if items.isEmpty { print("no notifications"); return }
        let time = ISO8601DateFormatter()
        for n in items {
            let what = n.events.count == 1 ? n.events[0].summary : "\(n.events.count) events"
            print("\(time.string(from: Date(timeIntervalSince1970: n.createdAt)))  \(n.state.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                  + "\(n.channel)  \(n.project ?? "-")  \(what)")
            print("    \(n.delivery) · \(n.attempts) attempt\(n.attempts == 1 ? "" : "s")" + (n.lastAnswer.map { " · \($0)" } ?? "")
                  + (n.finishedBy.map { " · by \($0)" } ?? ""))
        }
    }
}
