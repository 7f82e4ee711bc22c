import GuardianStore
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
    /// A file holding the cluster key (a container secret, a systemd credential), read at start, so
    /// the key stays out of the environment and the process list. (Keys change at run time through
    /// `guardian keys`, not by editing the file.)
    public var clusterKeyFile: String?
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
    /// The dashboard's address as users reach it (`https://guardian.example.com`): alert messages
    /// link to the project's page under it. None: messages carry no link.
    public var publicURL: String?
    /// `health.dropped` fires for a drop of at least this many points.
    public var alertHealthDrop: Int = 10
    /// Attempts before an alert goes dead (the backoff runs from 1 s to 5 min: 20 is about 1.5 h).
    public var alertMaxAttempts: Int = 20
    /// A standby owner sends an alert only after the owners before it looked gone for rank × this.
    public var alertGraceSeconds: Int = 30
    /// Alert channels may POST to private, loopback and link-local addresses, and over plain http.
    /// Off: a maintainer's channel must not make the node a client of its own network.
    public var alertAllowPrivateTargets: Bool = false
    /// Email channels' SMTP server (`smtp_host` empty: email channels cannot send).
    public var smtpHost: String?
    public var smtpPort: Int = 587
    public var smtpUsername: String?
    /// A secret: never logged or shown. `smtp_password_file` reads it from a file instead.
    public var smtpPassword: String?
    public var smtpPasswordFile: String?
    public var smtpFrom: String?
    /// STARTTLS before AUTH and the message (on by default; off only for a relay on the same host).
    public var smtpStarttls: Bool = true
    /// A PEM file of CAs to verify the SMTP server with, besides the system's.
    public var smtpCAFile: String?
    /// HTTPS for the API and the dashboard: a PEM certificate chain and its key, re-read on SIGHUP.
    /// With them, members reach each other over HTTPS too, so every member of a mesh sets them.
    public var tlsCert: String?
    public var tlsKey: String?
    /// PEM certificates of the CA that signed the members' certificates: what this node verifies
    /// another member's certificate against (default: the system's trust store).
    public var tlsCA: String?
    /// Results older than this many days are thinned to the latest of each commit and of each week
    /// (never the project's latest); 0 keeps every result.
    public var retentionDays: Int = 0
    /// MiB of decoded file facts kept in memory between audits (estimated bytes): an incremental
    /// audit of a project whose facts are held reads only the changed files from the disk cache.
    public var factsCacheMB: Int = 32
    /// Log lines at this level and above: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String = "info"
    /// `text` (one human line per event) or `json` (one JSON object per line, for a log shipper).
    public var logFormat: String = "text"

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
        case publicURL = "public_url", alertHealthDrop = "alert_health_drop", alertMaxAttempts = "alert_max_attempts"
        case alertGraceSeconds = "alert_grace_seconds", alertAllowPrivateTargets = "alert_allow_private_targets"
        case smtpHost = "smtp_host", smtpPort = "smtp_port", smtpUsername = "smtp_username", smtpPassword = "smtp_password"
        case smtpPasswordFile = "smtp_password_file", smtpFrom = "smtp_from", smtpStarttls = "smtp_starttls", smtpCAFile = "smtp_ca_file"
        case clusterKeyFile = "cluster_key_file", logLevel = "log_level", logFormat = "log_format"
        case tlsCert = "tls_cert", tlsKey = "tls_key", tlsCA = "tls_ca", retentionDays = "retention_days"
        case factsCacheMB = "facts_cache_mb"
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
        publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
        alertHealthDrop = try c.decodeIfPresent(Int.self, forKey: .alertHealthDrop) ?? d.alertHealthDrop
        alertMaxAttempts = try c.decodeIfPresent(Int.self, forKey: .alertMaxAttempts) ?? d.alertMaxAttempts
        alertGraceSeconds = try c.decodeIfPresent(Int.self, forKey: .alertGraceSeconds) ?? d.alertGraceSeconds
        alertAllowPrivateTargets = try c.decodeIfPresent(Bool.self, forKey: .alertAllowPrivateTargets) ?? d.alertAllowPrivateTargets
        smtpHost = try c.decodeIfPresent(String.self, forKey: .smtpHost)
        smtpPort = try c.decodeIfPresent(Int.self, forKey: .smtpPort) ?? d.smtpPort
        smtpUsername = try c.decodeIfPresent(String.self, forKey: .smtpUsername)
        smtpPassword = try c.decodeIfPresent(String.self, forKey: .smtpPassword)
        smtpPasswordFile = try c.decodeIfPresent(String.self, forKey: .smtpPasswordFile)
        smtpFrom = try c.decodeIfPresent(String.self, forKey: .smtpFrom)
        smtpStarttls = try c.decodeIfPresent(Bool.self, forKey: .smtpStarttls) ?? d.smtpStarttls
        smtpCAFile = try c.decodeIfPresent(String.self, forKey: .smtpCAFile)
        clusterKeyFile = try c.decodeIfPresent(String.self, forKey: .clusterKeyFile)
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? d.logLevel
        logFormat = try c.decodeIfPresent(String.self, forKey: .logFormat) ?? d.logFormat
        tlsCert = try c.decodeIfPresent(String.self, forKey: .tlsCert)
        tlsKey = try c.decodeIfPresent(String.self, forKey: .tlsKey)
        tlsCA = try c.decodeIfPresent(String.self, forKey: .tlsCA)
        retentionDays = try c.decodeIfPresent(Int.self, forKey: .retentionDays) ?? d.retentionDays
        factsCacheMB = try c.decodeIfPresent(Int.self, forKey: .factsCacheMB) ?? d.factsCacheMB
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
        public var logLevel: String?
        public init(dataDir: String? = nil, httpAddr: String? = nil, gossipAddr: String? = nil, name: String? = nil,
                    clusterKey: String? = nil, join: [String] = [], tags: [String: String] = [:], noDiscovery: Bool = false,
                    allowLocalRoots: [String] = [], logLevel: String? = nil) {
            self.dataDir = dataDir; self.httpAddr = httpAddr; self.gossipAddr = gossipAddr; self.name = name
            self.clusterKey = clusterKey; self.join = join; self.tags = tags; self.noDiscovery = noDiscovery
            self.allowLocalRoots = allowLocalRoots; self.logLevel = logLevel
        }
    }

    /// Resolves flags > environment > file > defaults, then checks the result.
    public static func resolve(flags: Overrides, environment: [String: String], file: String?) throws -> AgentConfig {
        var c = try load(file ?? environment["GUARDIAN_CONFIG"])
        try c.apply(environment: environment)
        c.apply(flags)
        try c.validate()
        try c.readClusterKeyFile()
        return c
    }

    /// The config file (YAML by its extension, else JSON), or the defaults without one.
    static func load(_ path: String?) throws -> AgentConfig {
        guard let path else { return AgentConfig() }
        guard let data = FileManager.default.contents(atPath: path) else { throw GuardianError.usage("cannot read config file \(path)") }
        do {
            if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
                return try YAMLDecoder().decode(AgentConfig.self, from: String(decoding: data, as: UTF8.self))
            }
            return try JSONDecoder().decode(AgentConfig.self, from: data)
        } catch {
            throw GuardianError.usage("config file \(path) is not valid: \(error)")
        }
    }

    mutating func apply(_ flags: Overrides) {
        if !flags.allowLocalRoots.isEmpty { allowedLocalRoots = flags.allowLocalRoots }
        if flags.noDiscovery { discovery = false }
        if let v = flags.clusterKey { clusterKey = v }
        if !flags.join.isEmpty { join = flags.join }
        for (k, v) in flags.tags { tags[k] = v }
        if let v = flags.dataDir { dataDir = v }
        if let v = flags.httpAddr { httpAddr = v }
        if let v = flags.gossipAddr { gossipAddr = v }
        if let v = flags.name { name = v }
        if let v = flags.logLevel { logLevel = v }
    }

    /// `cluster_key_file` read into `clusterKey`: the file's one line, surrounding white space
    /// trimmed. An unreadable or empty file stops the start (a node that silently ran alone would
    /// split the mesh).
    mutating func readClusterKeyFile() throws {
        guard let path = clusterKeyFile else { return }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GuardianError.usage("cluster_key_file: cannot read \(path)")
        }
        let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty, !key.contains(where: \.isWhitespace) else {
            throw GuardianError.usage("cluster_key_file: \(path) must hold one key (guardian keygen)")
        }
        clusterKey = key
    }

    /// Refuses a configuration the agent cannot run with, naming the setting.
    func validate() throws {
        _ = try Self.parseAddress(httpAddr, what: "http address")
        _ = try Self.parseAddress(gossipAddr, what: "gossip address")
        for j in join { _ = try Self.parseAddress(j, what: "join address") }
        if let a = advertiseAddr { _ = try Self.parseAddress(a, what: "advertise address") }
        for setting in Self.numbers {
            let value = self[keyPath: setting.path]
            guard value >= setting.minimum && value <= setting.maximum else {
                throw GuardianError.usage("\(setting.key) must be \(setting.must) (it is \(value))")
            }
        }
        for root in allowedLocalRoots where !root.hasPrefix("/") {
            throw GuardianError.usage("allowed_local_roots: '\(root)' is not an absolute path")
        }
        for scheme in repositorySchemes where !RepositoryPolicy.knownSchemes.contains(scheme.lowercased()) {
            throw GuardianError.usage("repository_schemes: '\(scheme)' is not one of \(RepositoryPolicy.knownSchemes.sorted().joined(separator: ", "))")
        }
        try Identifier.check(name, "node name")
        if let u = publicURL {
            guard let c = URLComponents(string: u), ["http", "https"].contains(c.scheme?.lowercased() ?? ""), c.host?.isEmpty == false else {
                throw GuardianError.usage("public_url: '\(u)' is not an http(s) URL")
            }
        }
        if smtpHost != nil, smtpFrom == nil { throw GuardianError.usage("smtp_from is needed with smtp_host (the sender's address)") }
        if (tlsCert == nil) != (tlsKey == nil) { throw GuardianError.usage("tls_cert and tls_key: give both, or neither") }
        if tlsCA != nil, tlsCert == nil { throw GuardianError.usage("tls_ca needs tls_cert and tls_key (members verify each other only over HTTPS)") }
        if clusterKey != nil, clusterKeyFile != nil { throw GuardianError.usage("cluster_key and cluster_key_file: give one") }
        guard Self.logLevels.contains(logLevel) else {
            throw GuardianError.usage("log_level: '\(logLevel)' is not one of \(Self.logLevels.joined(separator: ", "))")
        }
        guard ["text", "json"].contains(logFormat) else { throw GuardianError.usage("log_format: '\(logFormat)' is not text or json") }
        if smtpPassword != nil, smtpPasswordFile != nil { throw GuardianError.usage("smtp_password and smtp_password_file: give one") }
    }

    /// The scheme of this node's API, and so of every member's.
    public var httpScheme: String { tlsCert == nil ? "http" : "https" }

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

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
