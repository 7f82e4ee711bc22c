import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `guardian agent` process on loopback with its own data directory, for integration tests.
/// Its output is kept and printed only when a test asks (e.g. on failure).
public final class AgentProcess: @unchecked Sendable { // mutated only from the owning test
    public let binary: String
    public let dataDir: String
    /// The address the HTTP API binds and is reached at (loopback, or a test namespace's address).
    public let host: String
    /// A network namespace to run in (`ip netns exec`), for partition tests.
    public let namespace: String?
    public private(set) var port: Int = 0
    private var process: Process?
    private let logFile: String

    public init(binary: String, dataDir: String? = nil, host: String = "127.0.0.1", namespace: String? = nil) throws {
        self.binary = binary
        self.host = host
        self.namespace = namespace
        self.dataDir = dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("guardian-agent-\(UUID())").path
        logFile = self.dataDir + ".log"
    }

    deinit {
        stop(signal: SIGKILL)
        try? FileManager.default.removeItem(atPath: dataDir)
        try? FileManager.default.removeItem(atPath: logFile)
    }

    /// Starts the agent on an ephemeral port and waits until it answers /livez.
    public func start(extraArgs: [String] = [], env: [String: String] = [:]) async throws {
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let p = Process()
        let args = ["agent", "--data-dir", dataDir, "--http-addr", "\(host):0", "--log-level", "warning"] + extraArgs
        if let namespace {
            // `ip netns exec` execs the binary: the process is the agent (signals reach it)
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            p.arguments = ["netns", "exec", namespace, binary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args
        }
        var e = ProcessInfo.processInfo.environment
        e["XDG_CACHE_HOME"] = dataDir + "-cache"
        // Fixture repositories live in the temporary directory: an agent in a test may register them
        // (`env` can say otherwise; an empty value allows no root).
        e["GUARDIAN_ALLOWED_LOCAL_ROOTS"] = AgentProcess.fixtureRoot
        for (k, v) in env { e[k] = v }
        p.environment = e
        let log = FileHandle(forWritingAtPath: logFile)!
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        for _ in 0..<200 {
            try await Task.sleep(for: .milliseconds(50))
            let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if let r = text.range(of: "listening on http://\(host):") {
                let digits = text[r.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits), port > 0 {
                    self.port = port
                    if (try? await request("GET", "/livez").status) == 200 { return }
                }
            }
            if !p.isRunning { throw FixtureError(message: "agent exited: \(output)") }
        }
        throw FixtureError(message: "agent did not start: \(output)")
    }

    /// Where fixture repositories are made (`FixtureRepo`), which test agents allow as a local root.
    public static var fixtureRoot: String { URL(fileURLWithPath: NSTemporaryDirectory()).standardizedFileURL.path }

    public var output: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// The gossip address the agent bound (printed as "mesh gossip on HOST:PORT" when it has a cluster key).
    public var gossipAddress: String? {
        guard let r = output.range(of: "mesh gossip on ") else { return nil }
        return String(output[r.upperBound...].prefix { !$0.isWhitespace })
    }
    public var pid: Int32 { process?.processIdentifier ?? 0 }
    public var isRunning: Bool { process?.isRunning ?? false }

    public func stop(signal: Int32 = SIGTERM) {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        process = nil
    }

    /// SIGTERM, then waits up to `timeout` seconds; false (and SIGKILL) when the agent did not exit.
    public func stopGracefully(timeout: Double = 10) async -> Bool {
        guard let p = process, p.isRunning else { return true }
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); process = nil; return false }
        process = nil
        return true
    }

    public var adminToken: String {
        (try? String(contentsOfFile: dataDir + "/admin.token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    public struct Reply: Sendable {
        public var status: Int
        public var body: Data
        public var headers: [String: String]
        public init(status: Int, body: Data, headers: [String: String]) { self.status = status; self.body = body; self.headers = headers }
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// An HTTP request to the agent; `token: nil` sends the admin token, `token: ""` sends none.
    public func request(_ method: String, _ path: String, body: Data? = nil, token: String? = nil,
                        headers: [String: String] = [:]) async throws -> Reply {
        var req = URLRequest(url: URL(string: "http://\(host):\(port)\(path)")!)
        req.httpMethod = method
        req.timeoutInterval = 30
        let tok = token ?? adminToken
        if !tok.isEmpty { req.setValue("Bearer \(tok)", forHTTPHeaderField: "Authorization") }
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        if let body { req.httpBody = body; req.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let (data, resp) = try await URLSession.shared.data(for: req)
        let http = resp as! HTTPURLResponse
        var h: [String: String] = [:]
        for (k, v) in http.allHeaderFields { h["\(k)".lowercased()] = "\(v)" }
        return Reply(status: http.statusCode, body: data, headers: h)
    }

    public func json(_ method: String, _ path: String, _ object: [String: Any], token: String? = nil) async throws -> Reply {
        try await request(method, path, body: try JSONSerialization.data(withJSONObject: object), token: token)
    }

    /// Polls an audit task until it finishes.
    public func waitForTask(_ id: String, timeout: Double = 60) async throws -> [String: Any] {
        try await poll("task \(id) to finish", timeout: timeout) {
            let r = try await self.request("GET", "/v1/audits/\(id)")
            return ["succeeded", "failed"].contains(r.json["state"] as? String ?? "") ? r.json : nil
        }
    }

    /// Polls until the project has a result.
    public func waitForResult(project: String, timeout: Double = 60) async throws -> [String: Any] {
        try await poll("a result of \(project)", timeout: timeout) {
            let r = try await self.request("GET", "/v1/projects/\(project)/audit-status")
            return r.json["resultId"] is String ? r.json : nil
        }
    }

    /// The first non-nil answer of `read`, polled with `eventually`; the agent's output on a timeout.
    private func poll(_ what: String, timeout: Double, _ read: @escaping () async throws -> [String: Any]?) async throws -> [String: Any] {
        var answer: [String: Any]?
        do {
            try await eventually(what, timeout: timeout) {
                answer = try await read()
                return answer != nil
            }
        } catch let e as TimedOut {
            throw FixtureError(message: "\(e.description): \(output)")
        }
        guard let answer else { throw FixtureError(message: "\(what): no answer") }
        return answer
    }
}

/// The `guardian` executable built next to the test bundle (.build/<triple>/debug), or the package's
/// .build/debug/guardian.
public enum GuardianBinary {
    /// `GUARDIAN_TEST_BINARY` picks another build (a release binary, for the harness's figures).
    public static var path: String { executable("guardian", override: "GUARDIAN_TEST_BINARY") }

    /// `guardian-bench`, the benchmarks' executable, found the same way.
    public static var bench: String { executable("guardian-bench", override: "GUARDIAN_TEST_BENCH_BINARY") }

    static func executable(_ name: String, override: String) -> String {
        if let p = ProcessInfo.processInfo.environment[override], FileManager.default.isExecutableFile(atPath: p) { return p }
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir.appendingPathComponent(name), dir.deletingLastPathComponent().appendingPathComponent(name)]
        where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate.path
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/\(name)").path
    }
}
