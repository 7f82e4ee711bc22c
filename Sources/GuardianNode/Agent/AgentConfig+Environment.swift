import GuardianStore
import Foundation
import GuardianCore

/// Every setting of the agent has an environment variable: `GUARDIAN_` and its file key in capitals
/// (`max_body_bytes` is `GUARDIAN_MAX_BODY_BYTES`). An empty variable counts as unset.
extension AgentConfig {
    /// A whole-number setting and its bounds.
    struct Number: Sendable {
        let key: String
        let path: any WritableKeyPath<AgentConfig, Int> & Sendable
        let minimum: Int
        var maximum = Int.max
        /// What the value must be, for the message that refuses it.
        let must: String
    }

    static let numbers: [Number] = [
        Number(key: "max_concurrent_audits", path: \.maxConcurrentAudits, minimum: 1, must: "a positive number"),
        Number(key: "queue_capacity", path: \.queueCapacity, minimum: 1, must: "a positive number"),
        Number(key: "default_schedule_seconds", path: \.defaultScheduleSeconds, minimum: 0, must: "a number of seconds (0: no schedule)"),
        Number(key: "max_body_bytes", path: \.maxBodyBytes, minimum: 1, must: "a positive number of bytes"),
        Number(key: "probe_interval_ms", path: \.probeIntervalMs, minimum: 50, must: "a number of milliseconds >= 50"),
        Number(key: "push_pull_seconds", path: \.pushPullSeconds, minimum: 1, must: "a positive number"),
        Number(key: "replication_factor", path: \.replicationFactor, minimum: 1, must: "a positive number"),
        Number(key: "discovery_port", path: \.discoveryPort, minimum: 1, maximum: 65535, must: "a port number"),
        Number(key: "anti_entropy_seconds", path: \.antiEntropySeconds, minimum: 1, must: "a positive number"),
        Number(key: "hint_window_seconds", path: \.hintWindowSeconds, minimum: 0, must: "a number of seconds"),
        Number(key: "handoff_grace_seconds", path: \.handoffGraceSeconds, minimum: 0, must: "a number of seconds"),
        Number(key: "shard_min_files", path: \.shardMinFiles, minimum: 0, must: "a number of files (0 turns sharding off)"),
        Number(key: "shard_timeout_seconds", path: \.shardTimeoutSeconds, minimum: 1, must: "a positive number"),
        Number(key: "http_idle_timeout_seconds", path: \.httpIdleTimeoutSeconds, minimum: 1, must: "a positive number"),
        Number(key: "http_request_timeout_seconds", path: \.httpRequestTimeoutSeconds, minimum: 1, must: "a positive number"),
        Number(key: "max_event_streams", path: \.maxEventStreams, minimum: 1, must: "a positive number"),
        Number(key: "max_event_streams_per_token", path: \.maxEventStreamsPerToken, minimum: 1, must: "a positive number"),
        Number(key: "max_event_streams_per_team", path: \.maxEventStreamsPerTeam, minimum: 1, must: "a positive number"),
        Number(key: "alert_health_drop", path: \.alertHealthDrop, minimum: 1, maximum: 100, must: "a number of points from 1 to 100"),
        Number(key: "alert_max_attempts", path: \.alertMaxAttempts, minimum: 1, maximum: 100, must: "a number of attempts from 1 to 100"),
        Number(key: "alert_grace_seconds", path: \.alertGraceSeconds, minimum: 1, must: "a positive number"),
        Number(key: "smtp_port", path: \.smtpPort, minimum: 1, maximum: 65535, must: "a port number"),
        Number(key: "retention_days", path: \.retentionDays, minimum: 0, maximum: 36_500, must: "a number of days (0 keeps every result)"),
        Number(key: "facts_cache_mb", path: \.factsCacheMB, minimum: 0, maximum: 65_536, must: "a number of MiB (0 keeps no facts in memory)"),
    ]

    static let strings: [(key: String, path: any WritableKeyPath<AgentConfig, String> & Sendable)] = [
        ("data_dir", \.dataDir), ("http_addr", \.httpAddr), ("gossip_addr", \.gossipAddr), ("name", \.name),
        ("log_level", \.logLevel), ("log_format", \.logFormat),
    ]

    static let optionalStrings: [(key: String, path: any WritableKeyPath<AgentConfig, String?> & Sendable)] = [
        ("cluster_key", \.clusterKey), ("advertise_addr", \.advertiseAddr), ("public_url", \.publicURL),
        ("smtp_host", \.smtpHost), ("smtp_username", \.smtpUsername), ("smtp_password", \.smtpPassword),
        ("smtp_password_file", \.smtpPasswordFile), ("smtp_from", \.smtpFrom), ("smtp_ca_file", \.smtpCAFile),
        ("cluster_key_file", \.clusterKeyFile), ("tls_cert", \.tlsCert), ("tls_key", \.tlsKey), ("tls_ca", \.tlsCA),
    ]

    /// Comma-separated lists (paths may not hold commas).
    static let lists: [(key: String, path: any WritableKeyPath<AgentConfig, [String]> & Sendable)] = [
        ("join", \.join), ("allowed_local_roots", \.allowedLocalRoots), ("repository_schemes", \.repositorySchemes),
        ("repository_hosts_allow", \.repositoryHostsAllow), ("repository_hosts_deny", \.repositoryHostsDeny),
    ]

    static let switches: [(key: String, path: any WritableKeyPath<AgentConfig, Bool> & Sendable)] = [
        ("discovery", \.discovery), ("public_metrics", \.publicMetrics), ("alert_allow_private_targets", \.alertAllowPrivateTargets),
        ("smtp_starttls", \.smtpStarttls),
    ]

    static func variable(_ key: String) -> String { "GUARDIAN_" + key.uppercased() }

    /// Every `GUARDIAN_*` variable this configuration reads, for documentation and tests.
    static var variables: [String] {
        (numbers.map(\.key) + strings.map(\.key) + optionalStrings.map(\.key) + lists.map(\.key) + switches.map(\.key) + ["tags"])
            .map(variable)
    }

    /// Overrides the file's and the defaults' values with the environment's.
    mutating func apply(environment: [String: String]) throws {
        func value(_ key: String) -> String? { environment[Self.variable(key)].flatMap { $0.isEmpty ? nil : $0 } }
        for s in Self.strings { if let v = value(s.key) { self[keyPath: s.path] = v } }
        for s in Self.optionalStrings { if let v = value(s.key) { self[keyPath: s.path] = v } }
        for s in Self.lists { if let v = value(s.key) { self[keyPath: s.path] = Self.list(v) } }
        for s in Self.switches {
            guard let v = value(s.key) else { continue }
            guard let b = ["1": true, "true": true, "on": true, "0": false, "false": false, "off": false][v.lowercased()] else {
                throw GuardianError.usage("\(Self.variable(s.key)) must be on or off")
            }
            self[keyPath: s.path] = b
        }
        for n in Self.numbers {
            guard let v = value(n.key) else { continue }
            guard let i = Int(v), i >= n.minimum, i <= n.maximum else { throw GuardianError.usage("\(Self.variable(n.key)) must be \(n.must)") }
            self[keyPath: n.path] = i
        }
        if let v = value("tags") { try applyTags(v) }
    }

    /// `GUARDIAN_TAGS=team=red,site=lab`: each `KEY=VALUE` sets one tag.
    private mutating func applyTags(_ v: String) throws {
        for pair in Self.list(v) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { throw GuardianError.usage("GUARDIAN_TAGS must be KEY=VALUE pairs separated by commas") }
            tags[String(parts[0])] = String(parts[1])
        }
    }

    static func list(_ v: String) -> [String] {
        v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
