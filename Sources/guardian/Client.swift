import ArgumentParser
import AsyncHTTPClient
import Foundation
import GuardianCore
import GuardianHTTP
import GuardianNode
import GuardianStore

/// Where the local agent is and how to authenticate to it.
struct AgentOptions: ParsableArguments {
    @Option(help: "Agent HTTP address HOST:PORT or URL (default $GUARDIAN_HTTP_ADDR, else the address the local agent wrote, else 127.0.0.1:7780).")
    var httpAddr: String?
    @Option(help: "API token (default $GUARDIAN_TOKEN, else DATA_DIR/admin.token).")
    var token: String?
    @Option(help: "A PEM file of the CA that signed the agent's HTTPS certificate (default $GUARDIAN_CA, else the local agent's tls_ca, else the system's roots).")
    var ca: String?
    @Option(help: "The local agent's data directory, for admin.token and its address (default $GUARDIAN_DATA_DIR, else the last agent you started, else \(DataDirectory.defaultPath)).")
    var dataDir: String?

    func client() throws -> APIClient {
        let env = ProcessInfo.processInfo.environment
        let local = LocalAgent.find(dataDir: dataDir, environment: env)
        let caFile = ca ?? env["GUARDIAN_CA"].flatMap { $0.isEmpty ? nil : $0 } ?? local.ca
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) { throw GuardianError.usage("--ca: cannot read \(caFile)") }
        let given = httpAddr ?? env["GUARDIAN_HTTP_ADDR"].flatMap { $0.isEmpty ? nil : AgentPointer.local($0) }
        let addr = given ?? local.httpAddr ?? "127.0.0.1:7780"
        // no scheme: https when a CA says the agent serves it, else http
        let base = addr.contains("://") ? addr : (caFile != nil ? "https://" : "http://") + addr
        var tok = token ?? env["GUARDIAN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if tok == nil {
            // a data directory's admin token goes only to that directory's agent: the address it
            // wrote, a loopback one, or any address when the directory was named on purpose
            let named = dataDir != nil || env["GUARDIAN_DATA_DIR"].map { !$0.isEmpty } == true
            guard given == nil || named || Self.isLoopback(base) else {
                throw GuardianError.usage("no API token for \(base): pass --token or set GUARDIAN_TOKEN (the local admin token is sent only to the local agent)")
            }
            let path = (local.dataDir as NSString).appendingPathComponent("admin.token")
            tok = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let tok, !tok.isEmpty else {
            throw GuardianError.usage("no API token: pass --token, set GUARDIAN_TOKEN, or --data-dir (no admin.token in \(local.dataDir))")
        }
        return APIClient(base: base, token: tok, http: try CLIHTTP.client(ca: caFile))
    }

    static func isLoopback(_ base: String) -> Bool {
        guard let host = URLComponents(string: base)?.host?.lowercased() else { return false }
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}

/// A minimal JSON client for the agent's API.
struct APIClient: Sendable {
    let base: String
    let token: String
    let http: HTTPClient

    struct Reply: Sendable { var status: Int; var body: Data }

    /// The largest answer the CLI reads into memory (an export streams to a file instead).
    static let answerLimit = 256 << 20

    func request(_ method: String, _ path: String) throws -> HTTPClientRequest {
        guard URL(string: base + path) != nil else { throw GuardianError.usage("bad agent address \(base)") }
        var req = HTTPClientRequest(url: base + path)
        req.method = .init(rawValue: method)
        req.headers.add(name: "Authorization", value: "Bearer \(token)")
        return req
    }

    func call(_ method: String, _ path: String, json: [String: Any]? = nil) async throws -> Reply {
        var req = try request(method, path)
        if let json {
            req.body = .bytes(try JSONSerialization.data(withJSONObject: json))
            req.headers.add(name: "Content-Type", value: "application/json")
        }
        do {
            let response = try await http.execute(req, timeout: .seconds(600))
            let body = try await response.body.collect(upTo: Self.answerLimit)
            return Reply(status: Int(response.status.code), body: Data(buffer: body))
        } catch {
            throw CLIHTTP.unreachable(base, error)
        }
    }

    /// Calls and returns the JSON object (empty for a 204), or throws the API's error message. An
    /// answer that is not a JSON object is an error, not an empty object.
    func object(_ method: String, _ path: String, json: [String: Any]? = nil, expect: Set<Int> = [200]) async throws -> [String: Any] {
        let r = try await call(method, path, json: json)
        guard expect.contains(r.status) else { throw Self.refusal(r) }
        if r.status == 204 { return [:] }
        guard let obj = (try? JSONSerialization.jsonObject(with: r.body)) as? [String: Any] else {
            throw GuardianError.io("the agent's answer to \(method) \(path) is not a JSON object: \(String(decoding: r.body.prefix(200), as: UTF8.self))")
        }
        return obj
    }

    /// The API's error message of a refused call.
    static func refusal(_ r: Reply) -> GuardianError {
        let e = ((try? JSONSerialization.jsonObject(with: r.body)) as? [String: Any])?["error"] as? [String: Any]
        return GuardianError.io("agent answered \(r.status): \(e?["message"] as? String ?? String(decoding: r.body, as: UTF8.self))")
    }
}

extension APIClient {
    /// Calls and decodes the answer as the API's own response type (GuardianNode's `Models.swift`).
    func decode<T: Decodable>(_ type: T.Type, _ method: String, _ path: String, json: [String: Any]? = nil,
                              expect: Set<Int> = [200]) async throws -> T {
        let r = try await call(method, path, json: json)
        guard expect.contains(r.status) else { throw Self.refusal(r) }
        do { return try JSONDecoder().decode(T.self, from: r.body) } catch {
            throw GuardianError.io("the agent's answer to \(method) \(path) is not what this client expects: \(error)")
        }
    }
}

/// Prints a value as the API's JSON, indented, keys sorted.
func printEncoded<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try e.encode(value) + Data("\n".utf8))
}

func printJSON(_ obj: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

enum ListFormat: String, ExpressibleByArgument { case text, json }

struct ProjectsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "projects", abstract: "Manage the agent's projects.",
                                                    subcommands: [Add.self, List.self, Show.self, Remove.self, CodeHostCommand.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Register a repository (URL or local path); it is audited at once.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The repository: an https/ssh/git URL, or (admin tokens) a local path under allowed_local_roots.") var repository: String
        @Option(help: "The project's id and display name (default: from the repository's name).") var name: String?
        @Option(help: "The owning team (default: the token's team, or default for an admin).") var team: String?
        @Option(help: "The branch to audit (default: the repository's default branch).") var branch: String?
        @Option(help: "Seconds between scheduled audits (0: none).") var schedule: Int?
        @Option(help: "The scoring profile: a team profile's name (default: the team's).") var profile: String?
        @Option(help: "The code host's webhook secret (default: one is made and shown once).") var webhookSecret: String?
        @Option(help: "Credentials for a private repository: USER:SECRET or a token (GUARDIAN_CREDENTIALS keeps it off the command line).")
        var credentials: String?
        @OptionGroup var codeHost: CodeHostOptions
        @Flag(help: "Make the project's webhook on its code host (needs public_url on the agent and a code host token).")
        var createWebhook = false
        @Option(help: "Output format: text or json.") var format: ListFormat = .text

        func run() async throws {
            var body: [String: Any] = ["repositoryUrl": repository]
            if createWebhook { body["createWebhook"] = true }
            if let h = codeHost.body(detectable: CodeHost.detect(repositoryUrl: repository) != nil) { body["codeHost"] = h }
            if let c = credentials ?? ProcessInfo.processInfo.environment["GUARDIAN_CREDENTIALS"], !c.isEmpty { body["credentials"] = c }
            let local = !repository.contains("://") && !repository.hasPrefix("git@")
            if local { body["repositoryUrl"] = URL(fileURLWithPath: repository).standardizedFileURL.path }
            if let name { body["name"] = name }
            if let team { body["team"] = team }
            if let branch { body["branch"] = branch }
            if let schedule { body["scheduleSeconds"] = schedule }
            if let profile { body["profile"] = profile }
            if let webhookSecret { body["webhookSecret"] = webhookSecret }
            let p = try await agent.client().decode(ProjectView.self, "POST", "/v1/projects", json: body, expect: [201])
            if format == .json { try printEncoded(p); return }
            print("registered \(p.id) (\(p.repositoryUrl)); first audit queued")
            if let s = p.webhookSecret { print("webhook secret (shown once): \(s)") }
            if let w = p.webhook {
                print(w.created ? "webhook made on the code host: \(w.url)" : "webhook not made (\(w.answer)); point it at \(w.url)")
            } else {
                print("webhook: \(p.webhookUrl) on this node's public address")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List projects.")
        @OptionGroup var agent: AgentOptions
        @Option(help: "Output format: text or json.") var format: ListFormat = .text
        func run() async throws {
            let items = try await agent.client().decode(Items<ProjectView>.self, "GET", "/v1/projects").items
            if format == .json { try printEncoded(items); return }
            print("ID".padding(toLength: 34, withPad: " ", startingAt: 0) + "TEAM".padding(toLength: 12, withPad: " ", startingAt: 0) + "REPOSITORY")
            for p in items {
                print(p.id.padding(toLength: 34, withPad: " ", startingAt: 0) + p.team.padding(toLength: 12, withPad: " ", startingAt: 0) + p.repositoryUrl)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a project and its audit status.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The project id.") var id: String
        @Option(help: "Output format: text or json.") var format: ListFormat = .text
        func run() async throws {
            let c = try agent.client()
            if format == .json { printJSON(try await c.object("GET", "/v1/projects/\(id)/audit-status")); return }
            printStatus(try await c.decode(AuditStatusView.self, "GET", "/v1/projects/\(id)/audit-status"))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a project and its results from this node.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The project id.") var id: String
        func run() async throws {
            _ = try await agent.client().object("DELETE", "/v1/projects/\(id)", expect: [204])
            print("removed \(id)")
        }
    }
}

func printStatus(_ s: AuditStatusView) {
    print("project:  \(s.projectName) (\(s.projectId))")
    print("repo:     \(s.repositoryUrl)")
    print("audited:  \(s.lastAuditTime ?? "never")" + (s.commit.map { " at \($0.prefix(12))" } ?? ""))
    if let h = s.overallHealthScore { print("health:   \(h)/100") }
    if let run = s.runningAudit { print("running:  \(run.phase) \(Int(run.progress * 100))%") }
    if let gate = s.gate { print("gate:     \(gate.passed ? "passed" : "failed")") }
    for check in Check.allCases {
        guard let c = s.magicResults[check.rawValue] else { continue }
        print("  \(check.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(c.status.padding(toLength: 8, withPad: " ", startingAt: 0)) \(c.score)  \(c.findings) findings")
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a project's audit status, or the node's.")
    @OptionGroup var agent: AgentOptions
    @Argument(help: "The project id (none: the node's own status).") var project: String?
    @Option(help: "Output format: text or json.") var format: ListFormat = .text
    func run() async throws {
        let c = try agent.client()
        let path = project.map { "/v1/projects/\($0)/audit-status" } ?? "/v1/node"
        if format == .json { printJSON(try await c.object("GET", path)); return }
        if project != nil {
            printStatus(try await c.decode(AuditStatusView.self, "GET", path))
        } else {
            let n = try await c.decode(NodeInfo.self, "GET", path)
            print("node \(n.name) \(n.id)")
            print("http \(n.httpAddress)  queue \(n.queueDepth)  running \(n.runningAudits)  results \(n.results)")
        }
    }
}

struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "results", abstract: "List a project's signed results, newest first.")
    @OptionGroup var agent: AgentOptions
    @Argument(help: "The project id.") var project: String
    @Option(help: "How many results, newest first.") var limit: Int = 10
    @Option(help: "Output format: text or json.") var format: ListFormat = .text
    func run() async throws {
        let c = try agent.client(), path = "/v1/projects/\(project)/results?limit=\(limit)"
        if format == .json { printJSON(try await c.object("GET", path)); return }
        let page = try await c.decode(ResultsPage.self, "GET", path)
        for (id, env) in zip(page.ids, page.items) {
            print("\(id)  signed by \(env.signatures.first.map { String($0.keyid.prefix(7)) } ?? "?")")
        }
    }
}

/// `guardian audit --remote PROJECT`: trigger on the agent and follow with a progress bar.
enum RemoteAudit {
    static func run(project: String, agent: AgentOptions, rev: String?) async throws -> Bool {
        let c = try agent.client()
        let q = rev.map { "?rev=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? $0)" } ?? ""
        let task = try await c.decode(AuditAccepted.self, "POST", "/v1/projects/\(project)/audits\(q)", expect: [202]).taskId
        var last = ""
        while true {
            let s = try await c.decode(AuditTask.self, "GET", "/v1/audits/\(task)")
            let p = min(1, max(0, s.progress))
            let bar = String(repeating: "#", count: Int(p * 30)) + String(repeating: ".", count: 30 - Int(p * 30))
            let line = "\r[\(bar)] \(Int(p * 100))% \(s.phase)"
            if line != last { FileHandle.standardError.write(Data(line.padding(toLength: 60, withPad: " ", startingAt: 0).utf8)); last = line }
            if s.state == .succeeded {
                FileHandle.standardError.write(Data("\n".utf8))
                let st = try await c.decode(AuditStatusView.self, "GET", "/v1/projects/\(project)/audit-status")
                printStatus(st)
                // the gate decides the exit code: a status without one is an error, never a pass
                guard let gate = st.gate else { throw GuardianError.io("the agent's status of \(project) has no gate after the audit succeeded") }
                return gate.passed
            }
            if s.state == .failed {
                FileHandle.standardError.write(Data("\n".utf8))
                throw GuardianError.io("audit failed: \(s.error ?? "unknown error")")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

/// `guardian members`: the mesh as this node sees it, in Serf's columns.
struct MembersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "members", abstract: "List the mesh's members as the local agent sees them.")
    @OptionGroup var agent: AgentOptions
    @Option(help: "Only members whose status matches this regular expression (alive|suspect|dead|left).") var status: String?
    @Option(help: "Output format: text or json.") var format: ListFormat = .text
    func run() async throws {
        var view = try await agent.client().decode(MembersView.self, "GET", "/v1/members")
        if let status {
            guard let re = try? Regex(status) else { throw ValidationError("--status '\(status)' is not a regular expression") }
            view.members = view.members.filter { $0.status.wholeMatch(of: re) != nil }
        }
        if format == .json { try printEncoded(view); return }
        let rows = view.members.map { m -> [String] in
            let tags = m.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return [m.name, m.address, m.status, "\(m.incarnation)", m.rtt.map { "\($0)ms" } ?? "-", tags]
        }
        let header = ["NAME", "ADDRESS", "STATUS", "INCARNATION", "RTT", "TAGS"]
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        for row in [header] + rows {
            print(row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }
}

/// `guardian join HOST:PORT`: the local agent joins a mesh through that member's gossip address.
struct JoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "join", abstract: "Make the local agent join a mesh through a member's gossip address.")
    @OptionGroup var agent: AgentOptions
    @Argument(help: "Gossip address HOST:PORT of any member.") var address: String
    func run() async throws {
        let r = try await agent.client().decode(JoinedView.self, "POST", "/v1/members/join", json: ["address": address])
        print("joined through \(r.joined): \(r.members) live members")
    }
}

/// `guardian leave`: the local agent leaves the mesh gracefully (and keeps serving its own store).
struct LeaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "leave", abstract: "Make the local agent leave the mesh gracefully.")
    @OptionGroup var agent: AgentOptions
    func run() async throws {
        _ = try await agent.client().object("POST", "/v1/leave")
        print("left the mesh")
    }
}

/// `guardian keys`: the local agent's cluster keyring. Rotation with no downtime: install the new key
/// on every node, `use` it on every node, then remove the old one everywhere.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "Manage the local agent's cluster keyring.",
                                                    subcommands: [List.self, Install.self, Use.self, Remove.self])

    static func change(_ agent: AgentOptions, _ action: String, _ key: String) async throws {
        let r = try await agent.client().decode(KeysView.self, "POST", "/v1/keys", json: ["action": action, "key": key])
        print("primary \(r.primary)  keys \(r.keys.joined(separator: " "))")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Key ids, the primary (sealing) one first.")
        @OptionGroup var agent: AgentOptions
        @Option(help: "Output format: text or json.") var format: ListFormat = .text
        func run() async throws {
            let r = try await agent.client().decode(KeysView.self, "GET", "/v1/keys")
            if format == .json { try printEncoded(r); return }
            for k in r.keys { print(k == r.primary ? "\(k)  primary" : k) }
        }
    }
    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "install", abstract: "Install a key: it opens packets; the primary still seals.")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "The key (guardian keygen).") var key: String
        func run() async throws { try await KeysCommand.change(agent, "install", key) }
    }
    struct Use: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "use", abstract: "Make an installed key the primary one (it seals from now on).")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "An installed key.") var key: String
        func run() async throws { try await KeysCommand.change(agent, "use", key) }
    }
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a key (not the primary).")
        @OptionGroup var agent: AgentOptions
        @Argument(help: "An installed key that is not the primary.") var key: String
        func run() async throws { try await KeysCommand.change(agent, "remove", key) }
    }
}

/// `guardian force-leave NODE`: record a failed member as having left (it is no longer retried).
struct ForceLeaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "force-leave", abstract: "Record a failed member as having left the mesh.")
    @OptionGroup var agent: AgentOptions
    @Argument(help: "The member's name.") var node: String
    func run() async throws {
        _ = try await agent.client().object("POST", "/v1/members/\(node)/force-leave")
        print("\(node) is recorded as left")
    }
}
