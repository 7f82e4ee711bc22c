import ArgumentParser
import Foundation
import GuardianAgent
import GuardianNode
import GuardianStore
import Logging

/// `guardian agent`: one node with embedded defaults.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a Guardian node: store, scheduler, signed results and the HTTP API.",
        discussion: """
            Settings come from flags, then GUARDIAN_* environment variables, then --config (YAML or JSON, see configs/), then defaults.
            On first start the node creates its Ed25519 identity and writes an admin token to DATA_DIR/admin.token (mode 0600).
            SIGINT/SIGTERM stop it gracefully; SIGHUP re-reads the config file.
            Logs go to standard error: GUARDIAN_LOG_FORMAT=json for one JSON object per line, GUARDIAN_LOG_LEVEL=debug for one line per HTTP request.
            Under systemd (Type=notify) it reports READY=1 once its sockets are bound, STOPPING=1 on shutdown and WATCHDOG=1 when WatchdogSec is set.
            """)

    @Option(help: "Data directory (default \(DataDirectory.defaultPath)).")
    var dataDir: String?
    @Option(help: "HTTP API address HOST:PORT (default 127.0.0.1:7780).")
    var httpAddr: String?
    @Option(help: "Gossip address HOST:PORT, UDP and TCP (default 127.0.0.1:7946; used when a cluster key is set).")
    var gossipAddr: String?
    @Option(help: "Cluster key (guardian keygen); also GUARDIAN_CLUSTER_KEY or cluster_key in the config file. Without it the node runs alone.")
    var clusterKey: String?
    @Option(help: "Gossip address of a member to join, HOST:PORT (repeatable; retried with backoff).")
    var join: [String] = []
    @Option(help: "A tag gossiped with membership, KEY=VALUE (repeatable): team, site, capacity.")
    var tag: [String] = []
    @Flag(help: "Turn off LAN discovery (signed UDP broadcast announcements on loopback and private networks, port 7947).")
    var noDiscovery = false
    @Option(help: "A directory under which an admin may register local repositories (repeatable; also allowed_local_roots). None by default.")
    var allowLocalRoot: [String] = []
    @Option(help: "Node name (default: host name).")
    var name: String?
    @Option(help: "Config file (YAML or JSON).")
    var config: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info; also GUARDIAN_LOG_LEVEL, log_level).")
    var logLevel: String?

    func run() async throws {
        // two arenas, unless the operator chose (glibc reads both variables itself): see Heap
        let env = ProcessInfo.processInfo.environment
        if env["MALLOC_ARENA_MAX"] == nil, !(env["GLIBC_TUNABLES"] ?? "").contains("glibc.malloc.arena_max") { Heap.limitArenas(2) }
        var tags: [String: String] = [:]
        for t in tag {
            guard let eq = t.firstIndex(of: "="), eq != t.startIndex else { throw ValidationError("--tag takes KEY=VALUE, got '\(t)'") }
            tags[String(t[..<eq])] = String(t[t.index(after: eq)...])
        }
        let flags = AgentConfig.Overrides(dataDir: dataDir, httpAddr: httpAddr, gossipAddr: gossipAddr, name: name,
                                          clusterKey: clusterKey, join: join, tags: tags, noDiscovery: noDiscovery,
                                          allowLocalRoots: allowLocalRoot.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                                          logLevel: logLevel)
        let cfg = try AgentConfig.resolve(flags: flags, environment: ProcessInfo.processInfo.environment, file: config)
        let logger = LogFormat.bootstrap(cfg)
        try await Agent.run(config: cfg, configFile: config ?? ProcessInfo.processInfo.environment["GUARDIAN_CONFIG"], flags: flags, logger: logger)
    }
}
