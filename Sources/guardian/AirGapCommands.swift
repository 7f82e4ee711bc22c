import ArgumentParser
import AsyncHTTPClient
import NIOCore
import Foundation
import GuardianCore
import GuardianHTTP
import GuardianNode
import GuardianStore
import Logging

/// Where an air-gap command works: a running agent (when `--http-addr` or `--token` is given), or
/// the data directory itself (the agent stopped, or a node that was never started).
struct AirGapTarget: ParsableArguments {
    /// `--http-addr`, `--token`, `--data-dir`: a running agent when either of the first two is given.
    @OptionGroup var agent: AgentOptions

    var remote: Bool { agent.httpAddr != nil || agent.token != nil }

    func client() throws -> APIClient { try agent.client() }

    /// The node over the data directory, for the offline commands.
    func localNode() throws -> Node {
        var config = AgentConfig()
        config.dataDir = agent.dataDir ?? ProcessInfo.processInfo.environment["GUARDIAN_DATA_DIR"] ?? DataDirectory.defaultPath
        var logger = Logger(label: "guardian")
        logger.logLevel = .warning
        return try Node(config: config, logger: logger, audits: false) // a one-off command, not the agent
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write signed results and registry records to a bundle that can cross an air gap.",
        discussion: """
            The bundle carries the public keys of the results' signers, so a mesh that never saw this one can import it.
            Project secrets and API tokens are never exported. With --http-addr or --token the bundle comes from
            that running agent, otherwise from the data directory. See docs/airgap.md.
            """)
    @OptionGroup var target: AirGapTarget
    @Option(help: "Only this project (and its team).") var project: String?
    @Option(help: "Only results and registry writes since TIME: seconds since 1970 or ISO 8601 (2026-11-27T10:00:00Z).") var since: String?
    @Argument(help: "The bundle file to write.") var file: String

    func run() async throws {
        let sinceTime = try since.map { s in
            guard let t = API.parseTime(s) else { throw GuardianError.usage("--since must be seconds since 1970 or an ISO 8601 time") }
            return t
        }
        if target.remote {
            let client = try target.client()
            var query: [String] = []
            if let project { query.append("project=\(project.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? project)") }
            if let sinceTime { query.append("since=\(sinceTime)") }
            let req = try client.request("GET", "/v1/export" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
            let response: HTTPClientResponse
            do { response = try await client.http.execute(req, timeout: .hours(1)) } catch { throw CLIHTTP.unreachable(client.base, error) }
            guard response.status == .ok else {
                let body = try await response.body.collect(upTo: 1 << 20)
                throw GuardianError.io("agent answered \(response.status.code): \(String(buffer: body))")
            }
            // streamed into FILE.partial, renamed when whole: a failed download leaves no bundle
            let partial = file + ".partial"
            guard FileManager.default.createFile(atPath: partial, contents: nil), let out = FileHandle(forWritingAtPath: partial) else {
                throw GuardianError.io("cannot write \(partial)")
            }
            do {
                for try await chunk in response.body { try out.write(contentsOf: Data(buffer: chunk)) }
                // done means durable, as for a local export: the file may be carried off on a stick next
                try out.synchronize()
                try out.close()
            } catch {
                try? out.close()
                unlink(partial)
                throw GuardianError.io("the export from \(client.base) broke off: \(error)")
            }
            guard rename(partial, file) == 0 else { throw GuardianError.io("cannot rename \(partial) to \(file)") }
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            print("wrote \(file) (\(size) bytes) from the agent at \(client.base)")
            return
        }
        let node = try target.localNode()
        guard FileManager.default.createFile(atPath: file, contents: nil), let out = FileHandle(forWritingAtPath: file) else {
            throw GuardianError.io("cannot write \(file)")
        }
        defer { try? out.close() }
        let summary = try await node.exportBundle(project: project, since: sinceTime, keys: node.knownKeys()) { chunk in
            try out.write(contentsOf: chunk)
        }
        try out.synchronize()
        print("wrote \(file): \(summary.results) results, \(summary.registry) registry records, \(summary.bytes) bytes; signers \(summary.signers.joined(separator: ", "))")
        if !summary.unknownSigners.isEmpty {
            FileHandle.standardError.write(Data("warning: no public key here for \(summary.unknownSigners.joined(separator: ", ")); their results are in the bundle but an importer must already know those keys\n".utf8))
        }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Verify and merge a bundle written by `guardian export`.",
        discussion: """
            Every result's signature is checked against the keys this node already trusts (its own, DATA_DIR/keys/*.pub, the
            mesh's members) and the signers' keys in the bundle that --trust names; registry records (projects, teams) are
            accepted only from an exporter trusted the same way. A bundle from a node this one does not know needs --trust.
            Importing twice changes nothing. A truncated bundle imports what is whole and says what is missing.
            With --http-addr or --token the bundle goes to that running agent, otherwise into the data directory.
            Exit codes: 0 everything imported, 1 something damaged, refused or missing (the rest imported), 2 usage error.
            """)
    @OptionGroup var target: AirGapTarget
    @Option(name: .customLong("trust"), help: "Also trust this signer or exporter from the bundle: its public key (base64) or node id. Repeatable.") var trust: [String] = []
    @Option(help: "Output format: text or json.") var format: ListFormat = .text
    @Argument(help: "The bundle file.") var file: String

    func run() async throws {
        guard FileManager.default.isReadableFile(atPath: file) else { throw GuardianError.usage("cannot read \(file)") }
        let report: ImportReport
        if target.remote {
            let client = try target.client()
            let query = trust.map { "trust=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" }.joined(separator: "&")
            var req = try client.request("POST", "/v1/import" + (query.isEmpty ? "" : "?" + query))
            req.headers.add(name: "Content-Type", value: "application/octet-stream")
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            req.body = .stream(FileChunks(path: file).map { ByteBuffer(bytes: $0) }, length: .known(Int64(size)))
            let data: Data
            let status: Int
            do {
                let response = try await client.http.execute(req, timeout: .hours(1))
                status = Int(response.status.code)
                data = Data(buffer: try await response.body.collect(upTo: APIClient.answerLimit))
            } catch { throw CLIHTTP.unreachable(client.base, error) }
            guard status == 200 || status == 422, let r = try? JSONDecoder().decode(ImportReport.self, from: data) else {
                throw GuardianError.io("agent answered \(status): \(String(decoding: data, as: UTF8.self))")
            }
            report = r
        } else {
            let node = try target.localNode()
            report = try await node.importBundle(FileChunks(path: file), trust: trust, keys: node.knownKeys())
        }
        if format == .json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            FileHandle.standardOutput.write(try e.encode(report) + Data("\n".utf8))
        } else {
            Self.printText(report)
        }
        if !report.complete { throw ExitCode(1) }
    }

    static func printText(_ r: ImportReport) {
        print("bundle from \(r.exporterName ?? "?") (\(r.exporter ?? "unknown exporter"))")
        print("results: \(r.imported) imported, \(r.alreadyPresent) already here, \(r.resultsRead) read of \(r.expectedResults.map(String.init) ?? "?")")
        print("registry: \(r.registryApplied) applied, \(r.registryUnchanged) unchanged, \(r.registryRead) read of \(r.expectedRegistry.map(String.init) ?? "?")")
        for s in r.signers {
            print(s.accepted ? "signer \(s.id): accepted, \(s.results) results" : "signer \(s.id): refused (\(s.reason ?? "not trusted"))")
        }
        for (reason, n) in r.refused.sorted(by: { $0.key < $1.key }) { print("refused \(n): \(reason)") }
        for d in r.damaged { print("damaged: \(d)") }
        if let m = r.missing { print("missing: \(m)") }
        print(r.complete ? String(format: "complete (%.2f s)", r.seconds) : String(format: "INCOMPLETE (%.2f s): what was whole is imported", r.seconds))
    }
}
