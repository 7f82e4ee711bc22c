import Foundation
import GuardianCore
import Yams

/// Agent settings. Precedence: flags, then environment (`GUARDIAN_*`), then the config file (YAML or JSON),
/// then these defaults.
public struct AgentConfig: Codable, Sendable, Equatable {
    public var dataDir: String = DataDirectory.defaultPath
    public var httpAddr: String = "127.0.0.1:7780"
    public var gossipAddr: String = "127.0.0.1:7946"
    public var name: String = AgentConfig.defaultName(ProcessInfo.processInfo.hostName)
    /// Audits running at once.
    public var maxConcurrentAudits: Int = 2
    /// Queued audits beyond this are refused with 503.
    public var queueCapacity: Int = 1000
    /// Default interval between scheduled audits of a project, seconds.
    public var defaultScheduleSeconds: Int = 3600
    /// Whether /metrics needs no token.
    public var publicMetrics: Bool = true
    /// Largest request body accepted, bytes.
    public var maxBodyBytes: Int = 1 << 20
    /// The mesh's shared key (`guardian keygen`). Without one the node runs alone: gossip is never
    /// unauthenticated, so there is no mesh without a key.
    public var clusterKey: String?
    /// Gossip addresses of members to join at start (retried with backoff until one answers).
    public var join: [String] = []
    /// The gossip address other members use, when it differs from the bound one (a 0.0.0.0 bind, NAT).
    public var advertiseAddr: String?
    /// SWIM probe interval, milliseconds.
    public var probeIntervalMs: Int = 1000
    /// Push-pull full-state sync interval, seconds.
    public var pushPullSeconds: Int = 30
    /// Tags gossiped with membership: team, site, capacity, …
    public var tags: [String: String] = [:]
    /// Owners per project (the first N distinct live nodes on the ring).
    public var replicationFactor: Int = 3
    /// LAN discovery: signed announcements by UDP broadcast on loopback and private networks.
    public var discovery: Bool = true
    /// The UDP port announcements go to (every node on a LAN listens on the same one).
    public var discoveryPort: Int = 7947
    /// Result anti-entropy with each member sharing projects, seconds between rounds.
    public var antiEntropySeconds: Int = 30
    /// How long hints for an owner that is down are kept; after that anti-entropy repairs it.
    public var hintWindowSeconds: Int = 10_800
    /// How long a former owner keeps a project's results after ownership moved (and the new owners
    /// confirmed holding them) before dropping them.
    public var handoffGraceSeconds: Int = 600
    /// An audit with at least this many files to analyse (not in the cache) is sharded across the
    /// live members; 0 turns sharding off.
    public var shardMinFiles: Int = 500
    /// How long the primary waits for one shard's owner before giving the shard to the next member.
    public var shardTimeoutSeconds: Int = 600
    /// Directories under which an admin may register local repositories (paths and `file://`
    /// URLs); none by default. The data directory is never allowed.
    public var allowedLocalRoots: [String] = []
    /// URL schemes a remote repository may use.
    public var repositorySchemes: [String] = ["https", "ssh", "git"]
    /// Hosts remote repositories may come from (`host`, or `*.domain`); empty allows any host.
    public var repositoryHostsAllow: [String] = []
    /// Hosts remote repositories may never come from; checked before the allow list.
    public var repositoryHostsDeny: [String] = []
    /// An HTTP connection with nothing to read for this long is closed; a request's head must
    /// arrive complete within it.
    public var httpIdleTimeoutSeconds: Int = 30
    /// A request's body must keep coming: complete, or at least 16 KiB more, in every window of this
    /// many seconds after its head.
    public var httpRequestTimeoutSeconds: Int = 60
    /// Event streams (`GET /v1/events`) open at once, in all, per token and per team; past them, 429.
    /// A quarter of the total (at most 16) is kept for admins.
    public var maxEventStreams: Int = 256
    public var maxEventStreamsPerToken: Int = 16
    public var maxEventStreamsPerTeam: Int = 64

    public init() {}

    enum CodingKeys: String, CodingKey {
        case dataDir = "data_dir", httpAddr = "http_addr", gossipAddr = "gossip_addr", name
        case maxConcurrentAudits = "max_concurrent_audits", queueCapacity = "queue_capacity"
        case defaultScheduleSeconds = "default_schedule_seconds", publicMetrics = "public_metrics"
        case maxBodyBytes = "max_body_bytes"
        case clusterKey = "cluster_key", join, advertiseAddr = "advertise_addr", probeIntervalMs = "probe_interval_ms", pushPullSeconds = "push_pull_seconds", tags
        case replicationFactor = "replication_factor", discovery, discoveryPort = "discovery_port"
        case antiEntropySeconds = "anti_entropy_seconds", hintWindowSeconds = "hint_window_seconds", handoffGraceSeconds = "handoff_grace_seconds"
        case shardMinFiles = "shard_min_files", shardTimeoutSeconds = "shard_timeout_seconds"
        case allowedLocalRoots = "allowed_local_roots", repositorySchemes = "repository_schemes"
        case repositoryHostsAllow = "repository_hosts_allow", repositoryHostsDeny = "repository_hosts_deny"
        case httpIdleTimeoutSeconds = "http_idle_timeout_seconds", httpRequestTimeoutSeconds = "http_request_timeout_seconds"
        case maxEventStreams = "max_event_streams", maxEventStreamsPerToken = "max_event_streams_per_token"
        case maxEventStreamsPerTeam = "max_event_streams_per_team"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AgentConfig()
        dataDir = try c.decodeIfPresent(String.self, forKey: .dataDir) ?? d.dataDir
        httpAddr = try c.decodeIfPresent(String.self, forKey: .httpAddr) ?? d.httpAddr
        gossipAddr = try c.decodeIfPresent(String.self, forKey: .gossipAddr) ?? d.gossipAddr
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        maxConcurrentAudits = try c.decodeIfPresent(Int.self, forKey: .maxConcurrentAudits) ?? d.maxConcurrentAudits
        queueCapacity = try c.decodeIfPresent(Int.self, forKey: .queueCapacity) ?? d.queueCapacity
        defaultScheduleSeconds = try c.decodeIfPresent(Int.self, forKey: .defaultScheduleSeconds) ?? d.defaultScheduleSeconds
        publicMetrics = try c.decodeIfPresent(Bool.self, forKey: .publicMetrics) ?? d.publicMetrics
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? d.maxBodyBytes
        clusterKey = try c.decodeIfPresent(String.self, forKey: .clusterKey)
        join = try c.decodeIfPresent([String].self, forKey: .join) ?? d.join
        advertiseAddr = try c.decodeIfPresent(String.self, forKey: .advertiseAddr)
        probeIntervalMs = try c.decodeIfPresent(Int.self, forKey: .probeIntervalMs) ?? d.probeIntervalMs
        pushPullSeconds = try c.decodeIfPresent(Int.self, forKey: .pushPullSeconds) ?? d.pushPullSeconds
        tags = try c.decodeIfPresent([String: String].self, forKey: .tags) ?? d.tags
        replicationFactor = try c.decodeIfPresent(Int.self, forKey: .replicationFactor) ?? d.replicationFactor
        discovery = try c.decodeIfPresent(Bool.self, forKey: .discovery) ?? d.discovery
        discoveryPort = try c.decodeIfPresent(Int.self, forKey: .discoveryPort) ?? d.discoveryPort
        antiEntropySeconds = try c.decodeIfPresent(Int.self, forKey: .antiEntropySeconds) ?? d.antiEntropySeconds
        hintWindowSeconds = try c.decodeIfPresent(Int.self, forKey: .hintWindowSeconds) ?? d.hintWindowSeconds
        handoffGraceSeconds = try c.decodeIfPresent(Int.self, forKey: .handoffGraceSeconds) ?? d.handoffGraceSeconds
        shardMinFiles = try c.decodeIfPresent(Int.self, forKey: .shardMinFiles) ?? d.shardMinFiles
        shardTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .shardTimeoutSeconds) ?? d.shardTimeoutSeconds
        allowedLocalRoots = try c.decodeIfPresent([String].self, forKey: .allowedLocalRoots) ?? d.allowedLocalRoots
        repositorySchemes = try c.decodeIfPresent([String].self, forKey: .repositorySchemes) ?? d.repositorySchemes
        repositoryHostsAllow = try c.decodeIfPresent([String].self, forKey: .repositoryHostsAllow) ?? d.repositoryHostsAllow
        repositoryHostsDeny = try c.decodeIfPresent([String].self, forKey: .repositoryHostsDeny) ?? d.repositoryHostsDeny
        httpIdleTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .httpIdleTimeoutSeconds) ?? d.httpIdleTimeoutSeconds
        httpRequestTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .httpRequestTimeoutSeconds) ?? d.httpRequestTimeoutSeconds
        maxEventStreams = try c.decodeIfPresent(Int.self, forKey: .maxEventStreams) ?? d.maxEventStreams
        maxEventStreamsPerToken = try c.decodeIfPresent(Int.self, forKey: .maxEventStreamsPerToken) ?? d.maxEventStreamsPerToken
        maxEventStreamsPerTeam = try c.decodeIfPresent(Int.self, forKey: .maxEventStreamsPerTeam) ?? d.maxEventStreamsPerTeam
    }

    /// Values given on the command line (nil = not given).
    public struct Overrides: Sendable {
        public var dataDir: String?
        public var httpAddr: String?
        public var gossipAddr: String?
        public var name: String?
        public var clusterKey: String?
        public var join: [String]
        public var tags: [String: String]
        public var noDiscovery: Bool
        public var allowLocalRoots: [String]
        public init(dataDir: String? = nil, httpAddr: String? = nil, gossipAddr: String? = nil, name: String? = nil,
                    clusterKey: String? = nil, join: [String] = [], tags: [String: String] = [:], noDiscovery: Bool = false,
                    allowLocalRoots: [String] = []) {
            self.dataDir = dataDir; self.httpAddr = httpAddr; self.gossipAddr = gossipAddr; self.name = name
            self.clusterKey = clusterKey; self.join = join; self.tags = tags; self.noDiscovery = noDiscovery
            self.allowLocalRoots = allowLocalRoots
        }
    }

    /// Resolves flags > environment > file > defaults.
    public static func resolve(flags: Overrides, environment: [String: String], file: String?) throws -> AgentConfig {
        var c = AgentConfig()
        let path = file ?? environment["GUARDIAN_CONFIG"]
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw GuardianError.usage("cannot read config file \(path)")
            }
            do {
                if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
                    c = try YAMLDecoder().decode(AgentConfig.self, from: String(decoding: data, as: UTF8.self))
                } else {
                    c = try JSONDecoder().decode(AgentConfig.self, from: data)
                }
            } catch {
                throw GuardianError.usage("config file \(path) is not valid: \(error)")
            }
        }
        func env(_ k: String) -> String? { environment["GUARDIAN_" + k].flatMap { $0.isEmpty ? nil : $0 } }
        /// A whole-number setting from `GUARDIAN_<key>`, at least `minimum`; `message` says what it must be.
        func integer(_ k: String, atLeast minimum: Int, _ message: String) throws -> Int? {
            guard let v = env(k) else { return nil }
            guard let n = Int(v), n >= minimum else { throw GuardianError.usage(message) }
            return n
        }
        if let v = env("DATA_DIR") { c.dataDir = v }
        if let v = env("HTTP_ADDR") { c.httpAddr = v }
        if let v = env("GOSSIP_ADDR") { c.gossipAddr = v }
        if let v = env("NAME") { c.name = v }
        if let n = try integer("MAX_CONCURRENT_AUDITS", atLeast: 1, "GUARDIAN_MAX_CONCURRENT_AUDITS must be a positive number") { c.maxConcurrentAudits = n }
        if let v = env("CLUSTER_KEY") { c.clusterKey = v }
        if let v = env("ADVERTISE_ADDR") { c.advertiseAddr = v }
        if let v = env("JOIN") { c.join = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        if let n = try integer("PROBE_INTERVAL_MS", atLeast: 50, "GUARDIAN_PROBE_INTERVAL_MS must be a number of milliseconds >= 50") { c.probeIntervalMs = n }
        if let n = try integer("PUSH_PULL_SECONDS", atLeast: 1, "GUARDIAN_PUSH_PULL_SECONDS must be a positive number") { c.pushPullSeconds = n }
        if let n = try integer("REPLICATION_FACTOR", atLeast: 1, "GUARDIAN_REPLICATION_FACTOR must be a positive number") { c.replicationFactor = n }
        if let v = env("DISCOVERY") {
            guard let b = ["1": true, "true": true, "on": true, "0": false, "false": false, "off": false][v.lowercased()] else {
                throw GuardianError.usage("GUARDIAN_DISCOVERY must be on or off")
            }
            c.discovery = b
        }
        if let v = env("DISCOVERY_PORT") {
            guard let n = Int(v), (1...65535).contains(n) else { throw GuardianError.usage("GUARDIAN_DISCOVERY_PORT must be a port number") }
            c.discoveryPort = n
        }
        if let n = try integer("ANTI_ENTROPY_SECONDS", atLeast: 1, "GUARDIAN_ANTI_ENTROPY_SECONDS must be a positive number") { c.antiEntropySeconds = n }
        if let n = try integer("HINT_WINDOW_SECONDS", atLeast: 0, "GUARDIAN_HINT_WINDOW_SECONDS must be a number of seconds") { c.hintWindowSeconds = n }
        if let n = try integer("HANDOFF_GRACE_SECONDS", atLeast: 0, "GUARDIAN_HANDOFF_GRACE_SECONDS must be a number of seconds") { c.handoffGraceSeconds = n }
        if let n = try integer("SHARD_MIN_FILES", atLeast: 0, "GUARDIAN_SHARD_MIN_FILES must be a number of files (0 turns sharding off)") { c.shardMinFiles = n }
        if let n = try integer("SHARD_TIMEOUT_SECONDS", atLeast: 1, "GUARDIAN_SHARD_TIMEOUT_SECONDS must be a positive number") { c.shardTimeoutSeconds = n }
        /// A list from `GUARDIAN_<key>`: comma-separated (paths may not hold commas).
        func list(_ k: String) -> [String]? {
            env(k).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        }
        if let v = list("ALLOWED_LOCAL_ROOTS") { c.allowedLocalRoots = v }
        if let v = list("REPOSITORY_SCHEMES") { c.repositorySchemes = v }
        if let v = list("REPOSITORY_HOSTS_ALLOW") { c.repositoryHostsAllow = v }
        if let v = list("REPOSITORY_HOSTS_DENY") { c.repositoryHostsDeny = v }
        if let n = try integer("HTTP_IDLE_TIMEOUT_SECONDS", atLeast: 1, "GUARDIAN_HTTP_IDLE_TIMEOUT_SECONDS must be a positive number") { c.httpIdleTimeoutSeconds = n }
        if let n = try integer("HTTP_REQUEST_TIMEOUT_SECONDS", atLeast: 1, "GUARDIAN_HTTP_REQUEST_TIMEOUT_SECONDS must be a positive number") { c.httpRequestTimeoutSeconds = n }
        if let n = try integer("MAX_EVENT_STREAMS", atLeast: 1, "GUARDIAN_MAX_EVENT_STREAMS must be a positive number") { c.maxEventStreams = n }
        if let n = try integer("MAX_EVENT_STREAMS_PER_TOKEN", atLeast: 1, "GUARDIAN_MAX_EVENT_STREAMS_PER_TOKEN must be a positive number") { c.maxEventStreamsPerToken = n }
        if let n = try integer("MAX_EVENT_STREAMS_PER_TEAM", atLeast: 1, "GUARDIAN_MAX_EVENT_STREAMS_PER_TEAM must be a positive number") { c.maxEventStreamsPerTeam = n }
        if !flags.allowLocalRoots.isEmpty { c.allowedLocalRoots = flags.allowLocalRoots }
        if flags.noDiscovery { c.discovery = false }
        if let v = flags.clusterKey { c.clusterKey = v }
        if !flags.join.isEmpty { c.join = flags.join }
        for (k, v) in flags.tags { c.tags[k] = v }
        if let v = flags.dataDir { c.dataDir = v }
        if let v = flags.httpAddr { c.httpAddr = v }
        if let v = flags.gossipAddr { c.gossipAddr = v }
        if let v = flags.name { c.name = v }
        _ = try parseAddress(c.httpAddr, what: "http address")
        _ = try parseAddress(c.gossipAddr, what: "gossip address")
        guard c.maxConcurrentAudits > 0, c.queueCapacity > 0 else { throw GuardianError.usage("concurrency and queue capacity must be positive") }
        for j in c.join { _ = try parseAddress(j, what: "join address") }
        if let a = c.advertiseAddr { _ = try parseAddress(a, what: "advertise address") }
        guard (1...65535).contains(c.discoveryPort) else { throw GuardianError.usage("discovery_port must be a port number") }
        guard c.antiEntropySeconds >= 1, c.hintWindowSeconds >= 0 else { throw GuardianError.usage("anti_entropy_seconds must be >= 1 and hint_window_seconds >= 0") }
        guard c.shardMinFiles >= 0, c.shardTimeoutSeconds >= 1 else { throw GuardianError.usage("shard_min_files must be >= 0 and shard_timeout_seconds >= 1") }
        guard c.replicationFactor >= 1 else { throw GuardianError.usage("replication_factor must be at least 1") }
        guard c.probeIntervalMs >= 50, c.pushPullSeconds >= 1 else { throw GuardianError.usage("probe_interval_ms must be >= 50 and push_pull_seconds >= 1") }
        guard c.httpIdleTimeoutSeconds >= 1, c.httpRequestTimeoutSeconds >= 1, c.maxEventStreams >= 1, c.maxEventStreamsPerToken >= 1, c.maxEventStreamsPerTeam >= 1 else {
            throw GuardianError.usage("http_idle_timeout_seconds, http_request_timeout_seconds, max_event_streams and max_event_streams_per_token must be positive")
        }
        for root in c.allowedLocalRoots where !root.hasPrefix("/") {
            throw GuardianError.usage("allowed_local_roots: '\(root)' is not an absolute path")
        }
        for scheme in c.repositorySchemes where !RepositoryPolicy.knownSchemes.contains(scheme.lowercased()) {
            throw GuardianError.usage("repository_schemes: '\(scheme)' is not one of \(RepositoryPolicy.knownSchemes.sorted().joined(separator: ", "))")
        }
        try Identifier.check(c.name, "node name")
        return c
    }

    /// The host name as a node name (an id): other characters become '-'.
    static func defaultName(_ host: String) -> String {
        let mapped = String(host.unicodeScalars.map { s -> Character in
            s.isASCII && (CharacterSet.alphanumerics.contains(s) || s == "." || s == "_" || s == "-") ? Character(s) : "-"
        }).drop { !$0.isLetter && !$0.isNumber }
        return mapped.isEmpty ? "guardian" : String(mapped.prefix(Identifier.maxLength))
    }

    public static func parseAddress(_ s: String, what: String) throws -> (host: String, port: Int) {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else {
            throw GuardianError.usage("\(what) '\(s)' is not HOST:PORT")
        }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
