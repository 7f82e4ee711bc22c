import Dispatch
import Foundation
import GuardianStore
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Synchronization

/// The node: identity, store, projects, the audit queue and scheduler. One per agent process.
public actor Node {
    public nonisolated let config: AgentConfig
    /// False for a node that serves one offline command (see `init`).
    let runsAudits: Bool
    public nonisolated let dataDir: DataDirectory
    public nonisolated let store: Store
    public nonisolated let identity: SigningKey
    public nonisolated let events: EventBus
    /// Projects, teams and tokens, stamped for replication across the mesh.
    public nonisolated let registry: ReplicatedRegistry
    /// What results and failed audits raise in the alert outbox.
    public nonisolated let alerts: AlertPlanner
    /// Token lookups by hash; cleared whenever a token record changes (here or by replication).
    public nonisolated let tokenCache = TokenCache()
    /// Stored results' check scores, decoded once (an audit reads its project's last 20).
    nonisolated let pastScores = PastScores()
    let secrets: SecretBox
    /// Which repositories this node fetches (checked at registration and before every fetch).
    public nonisolated let policy: RepositoryPolicy
    let logger: Logger
    public nonisolated let startedAt = Date()
    /// The HTTP address the server bound (the configured one may name port 0); set once it runs.
    private nonisolated let boundHTTP = Mutex<String?>(nil)
    public nonisolated var httpAddress: String { boundHTTP.withLock { $0 } ?? config.httpAddr }
    public nonisolated func serverBound(host: String, port: Int) { boundHTTP.withLock { $0 = "\(host):\(port)" } }
    /// The clock of the audit queue (queued, started and finished times).
    let now: @Sendable () -> Double
    /// Audits the queue starts, for `AuditService` to run: the service owns them while they run.
    public nonisolated let startedAudits: AsyncStream<AuditTask>
    private let starts: AsyncStream<AuditTask>.Continuation

    /// Settings that SIGHUP can change at run time.
    private var maxConcurrentAudits: Int
    private var queueCapacity: Int

    private var queue: [AuditTask] = []
    private var tasks: [String: AuditTask] = [:]
    private var taskOrder: [String] = []
    /// Ids of replicated results being verified and stored by some session right now.
    let replicating = Mutex<Set<String>>([])
    /// Projects with an audit running (one at a time per project, so this also counts the audits).
    private var auditing: Set<String> = []
    /// Queued and running tasks per project, most recently changed last.
    private let active = Mutex<[String: [AuditTask]]>([:])
    /// Running pull request audits that a newer push superseded.
    private let superseded = Mutex<Set<String>>([])

    /// The mesh's answer to "who owns this project" (primary first); nil on a node without a mesh,
    /// which owns everything.
    private var ownersOf: (@Sendable (String) async -> [String])?
    /// Where a new signed result goes after it is stored here (the mesh pushes it to the other owners).
    private var resultSink: (@Sendable (ResultRecord) async -> Void)?
    /// Analyses an audit's files in shards across the mesh (nil without a mesh).
    private var shardRunner: ShardRunner?
    public typealias ShardRunner = @Sendable (_ project: String, _ commit: String, _ files: [ShardFile], _ limits: AnalysisLimits,
                                              _ mirror: String) async -> (facts: [[UInt8]?], runs: [ShardRun])

    /// `audits: false` for a node that serves one offline command (`guardian import` or `export`
    /// over a data directory): projects it registers are not audited by it; the agent audits them
    /// on their schedule, a webhook or on demand.
    public init(config: AgentConfig, logger: Logger, audits: Bool = true,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) throws {
        self.config = config
        runsAudits = audits
        now = clock
        (startedAudits, starts) = AsyncStream.makeStream(of: AuditTask.self)
        self.logger = logger
        maxConcurrentAudits = config.maxConcurrentAudits
        queueCapacity = config.queueCapacity
        if audits {
            AgentMetrics.configReloaded(successfully: true, maxConcurrentAudits: maxConcurrentAudits, queueCapacity: queueCapacity)
            Auditor.setMemoryCacheLimit(bytes: config.factsCacheMB << 20)
        }
        dataDir = try DataDirectory(path: config.dataDir)
        policy = RepositoryPolicy(config: config, dataDir: dataDir.path)
        identity = try NodeIdentity.loadOrCreate(dataDir)
        secrets = try SecretBox(key: try Node.loadSecretKey(dataDir))
        for path in dataDir.tighten() {
            logger.warning("tightened the permissions of \(path): the data directory is the owner's alone (0700, files 0600)")
        }
        store = try Store(path: dataDir.file("guardian.sqlite"))
        events = EventBus(maxStreams: config.maxEventStreams, maxStreamsPerToken: config.maxEventStreamsPerToken,
                          maxStreamsPerTeam: config.maxEventStreamsPerTeam) { [store] id in
            try? store.project(id: id)?.team
        }
        registry = try ReplicatedRegistry(store: store, node: identity.verifyingKey.nodeID.value, secrets: secrets)
        alerts = AlertPlanner(registry: registry, healthDrop: config.alertHealthDrop, publicURL: config.publicURL)
        try FileManager.default.createDirectory(atPath: dataDir.file("mirrors"), withIntermediateDirectories: true)
        registry.onApplied { [weak self] changed in await self?.applied(changed) }
    }

    /// Connects the node to the mesh: ownership decides who schedules, and new results are pushed.
    public func attach(owners: @escaping @Sendable (String) async -> [String], results: @escaping @Sendable (ResultRecord) async -> Void,
                       shards: ShardRunner? = nil) {
        ownersOf = owners
        resultSink = results
        shardRunner = shards
    }

    /// The owners of a project (primary first); this node alone without a mesh.
    public func owners(of project: String) async -> [String] {
        guard let ownersOf else { return [config.name] }
        return await ownersOf(project)
    }

    /// The primary schedules a project's audits (and audits it on registration and webhooks).
    public func isPrimary(_ project: String) async -> Bool { await owners(of: project).first == config.name }

    /// Reacts to registry records that replication changed here.
    func applied(_ changed: [ReplicatedRegistry.Applied]) async {
        for a in changed {
            let r = a.record
            switch r.kind {
            case .token: tokenCache.clear()
            case .team, .dismissal, .channel: break
            case .summary:
                // the fleet view changed: a project elsewhere has a new result
                if let value = r.value, let s = try? JSONDecoder().decode(ProjectSummary.self, from: Data(value)) {
                    await events.publish("project.summary", ["project": s.id, "result": s.resultId, "health": String(s.health),
                                                             "gate": s.gatePassed ? "passed" : "failed"])
                }
            case .project:
                if r.isTombstone {
                    removeRepositories(of: r.id)
                    await events.publish("project.removed", ["project": r.id, "by": r.stamp.node], team: a.team)
                } else if a.created {
                    await events.publish("project.registered", ["project": r.id, "by": r.stamp.node])
                    if !runsAudits {
                        // An offline command audits nothing: a scheduled project is made due now (the
                        // registry set its first audit a whole period away), so the agent's scheduler
                        // audits it at its next tick; an unscheduled one keeps no next audit.
                        if let p = try? store.project(id: r.id), p.scheduleSeconds > 0 {
                            try? store.setNextAudit(project: r.id, at: Date().timeIntervalSince1970)
                        }
                    } else if await isPrimary(r.id) {
                        _ = try? enqueue(project: r.id, reason: .registration, revision: nil)
                    }
                }
            }
        }
    }

    /// The key that encrypts project secrets at rest (`secret.key`, mode 0600).
    static func loadSecretKey(_ dir: DataDirectory) throws -> [UInt8] {
        let path = dir.file("secret.key")
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let d = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), d.count == SecretBox.keyBytes else {
                throw GuardianError.io("\(path) is not a Guardian secret key")
            }
            return [UInt8](d)
        }
        let key = Sodium.randomBytes(SecretBox.keyBytes)
        try dir.writeAtomically("secret.key", Array(Data(key).base64EncodedString().utf8) + [10], mode: 0o600)
        return key
    }

    public nonisolated var nodeID: String { identity.verifyingKey.nodeID.value }

    // MARK: admin token

    /// Writes `admin.token` (mode 0600) and stores its hash, on first start.
    public func ensureAdminToken() throws -> String? {
        let path = dataDir.file("admin.token")
        if FileManager.default.fileExists(atPath: path) { return nil }
        let (secret, record) = Auth.newToken(role: .admin, team: nil, name: "admin (created on first start)")
        try registry.insert(token: record)
        try dataDir.writeAtomically("admin.token", Array((secret + "\n").utf8), mode: 0o600)
        return path
    }

    // MARK: queue

    public func enqueue(project: String, reason: AuditTask.Reason, revision: String?) throws -> AuditTask {
        try checkCapacity()
        // A queued audit of the same project and revision absorbs the new request.
        if let existing = queue.first(where: { $0.projectId == project && $0.revision == revision && $0.pullRequest == nil }) { return existing }
        return admit(project: project, reason: reason, revision: revision, pullRequest: nil)
    }

    /// Queues the audit of a pull request's head. A queued audit of the same request takes the new
    /// head instead; a running one is superseded: it stops at its next phase and stores nothing.
    public func enqueue(project: String, pullRequest pr: PullRequestTask) throws -> AuditTask {
        if let i = queue.firstIndex(where: { $0.projectId == project && $0.pullRequest?.number == pr.number }) {
            queue[i].pullRequest = pr
            queue[i].revision = pr.head
            remember(queue[i])
            return queue[i]
        }
        let running = active.withLock { $0[project] ?? [] }.filter { $0.state == .running && $0.pullRequest?.number == pr.number }
        // an edit of the request's title or reviewers announces the same head: the running audit is still the right one
        if let same = running.first(where: { $0.pullRequest?.head == pr.head }) { return same }
        try checkCapacity()
        for t in running { superseded.withLock { _ = $0.insert(t.id) } }
        return admit(project: project, reason: .pullRequest, revision: pr.head, pullRequest: pr)
    }

    private func checkCapacity() throws {
        guard queue.count < queueCapacity else {
            throw NodeError(.unavailable, "queue_full", "the audit queue is full (\(queueCapacity)); try again later")
        }
    }

    /// A new queued task, announced, and started when there is room.
    private func admit(project: String, reason: AuditTask.Reason, revision: String?, pullRequest: PullRequestTask?) -> AuditTask {
        var task = AuditTask(id: "t-" + Sodium.hex(Sodium.randomBytes(8)), projectId: project, reason: reason, revision: revision,
                             state: .queued, phase: "queued", progress: 0, queuedAt: now())
        task.pullRequest = pullRequest
        queue.append(task)
        remember(task)
        var event = ["task": task.id, "project": project, "reason": reason.rawValue]
        if let pullRequest { event["pullRequest"] = String(pullRequest.number) }
        Task { await self.events.publish("audit.queued", event) }
        pump()
        return task
    }

    /// Whether a newer push superseded the running audit `id` (read from the audit's thread).
    nonisolated func isSuperseded(_ id: String) -> Bool { superseded.withLock { $0.contains(id) } }

    public func task(_ id: String) -> AuditTask? { tasks[id] }
    public var queueDepth: Int { queue.count }
    public var runningAudits: Int { auditing.count }

    /// The project's queued or running task (the most recently changed one), if any. Read on every audit-status request, so it is answered without a hop onto this actor and
    /// without scanning the task history.
    public nonisolated func currentTask(project: String) -> AuditTask? { active.withLock { $0[project]?.last } }

    private func remember(_ t: AuditTask) {
        active.withLock { a in
            var list = a[t.projectId] ?? []
            list.removeAll { $0.id == t.id }
            if t.state == .running || t.state == .queued { list.append(t) }
            a[t.projectId] = list.isEmpty ? nil : list
        }
        if tasks[t.id] == nil { taskOrder.append(t.id) }
        tasks[t.id] = t
        if taskOrder.count > 10_000 {
            let drop = taskOrder.prefix(taskOrder.count - 10_000)
            for id in drop where tasks[id]?.state != .running && tasks[id]?.state != .queued { tasks.removeValue(forKey: id) }
            taskOrder.removeFirst(drop.count)
        }
    }

    /// Starts the highest-priority queued audits while there is capacity: hands them to
    /// `AuditService`, which runs each in its task group. Two audits of one project never run at
    /// once: they would fetch into the same mirror (a second one waits its turn).
    private func pump() {
        while auditing.count < maxConcurrentAudits {
            var best: Int?
            for (i, t) in queue.enumerated() where !auditing.contains(t.projectId) && (best.map { t.priority > queue[$0].priority } ?? true) { best = i }
            guard let best else { return }
            var task = queue.remove(at: best)
            auditing.insert(task.projectId)
            task.state = .running
            task.startedAt = now()
            task.phase = "starting"
            remember(task)
            starts.yield(task)
        }
    }

    func setShards(_ id: String, _ runs: [ShardRun]) {
        guard var t = tasks[id] else { return }
        t.shards = runs
        remember(t)
    }

    func setProgress(_ id: String, _ phase: String, _ fraction: Double) async {
        guard var t = tasks[id], t.state == .running else { return }
        t.phase = phase
        t.progress = max(t.progress, min(1, fraction))
        remember(t)
        await events.publish("audit.progress", ["task": id, "project": t.projectId, "phase": phase,
                                                "progress": String(format: "%.2f", t.progress)])
    }

    /// Runs one started audit to its end: the result stored and announced, or the failure recorded.
    func execute(_ task: AuditTask) async {
        await events.publish("audit.started", ["task": task.id, "project": task.projectId])
        let outcome: Result<(record: ResultRecord, report: AuditReport), any Error>
        do {
            guard let project = try store.project(id: task.projectId) else {
                throw NodeError(.notFound, "not_found", "project \(task.projectId) was removed")
            }
            // Shards only for an audit that starts with nothing else waiting: with audits queued,
            // every core here already has one to run, and sending shards moves work to members that
            // have their own (and packs the blobs for them). A lone large audit still spreads out.
            let shards = queue.isEmpty ? shardRunner : nil
            let job = AuditJob(project: project, revision: task.revision, pullRequest: task.pullRequest, mirror: try dataDir.mirror(project.id),
                               cacheDir: dataDir.file("cache"), key: identity, store: store, taskId: task.id, node: self,
                               credentials: try credentials(of: project), shards: shards,
                               shardMinFiles: config.shardMinFiles, policy: policy, logger: logger)
            outcome = .success(try await job.run())
        } catch {
            outcome = .failure(error)
        }
        var t = tasks[task.id] ?? task
        t.finishedAt = now()
        switch outcome {
        case .success(let done):
            let r = done.record
            t.state = .succeeded; t.phase = "done"; t.progress = 1; t.resultId = r.id
            AgentMetrics.audit(succeeded: true, seconds: t.finishedAt! - (t.startedAt ?? t.finishedAt!))
            // stored durably here: that is the acknowledgement; the other owners get it (or a hint) meanwhile
            if let resultSink { Task { await resultSink(r) } }
            // off the actor (a store read and a registry write), before the event: a page refreshed by it sees the summary
            let project = t.projectId
            var phases = AuditPhases()
            await Task.detached { self.recordSummary(project: project, audited: done) }.value
            phases.end(.summary)
            if auditing.count <= 1 && queue.isEmpty { Task.detached { Heap.trim() } } // the last audit of a burst
            await events.publish("audit.finished", ["task": t.id, "project": t.projectId, "result": r.id,
                                                    "health": String(r.health), "gate": r.gatePassed ? "passed" : "failed"])
        case .failure(let e) where e is Superseded:
            t.state = .failed; t.phase = "superseded"; t.error = "\(e)"
            await events.publish("audit.failed", ["task": t.id, "project": t.projectId, "error": "\(e)"])
        case .failure(let e):
            t.state = .failed; t.phase = "failed"; t.error = "\(e)"
            AgentMetrics.audit(succeeded: false, seconds: 0)
            logger.warning("audit failed", metadata: ["project": "\(t.projectId)", "error": "\(e)"])
            if let pr = t.pullRequest, let project = try? store.project(id: t.projectId) {
                // the request's status says the audit failed; the branch's alerts are not for it
                if let row = pullRequestRow(project: project, report: PullRequestReport.failed(project: project, pr, error: PullRequestReport.publicReason(e),
                                                                                               link: alerts.link(project: project.id))) {
                    try? store.insert(alerts: [row])
                }
            } else if let project = try? store.project(id: t.projectId) {
                let rows = alerts.errorRows(project: project, error: "\(e)", now: now())
                if !rows.isEmpty {
                    do { try store.insert(alerts: rows) } catch {
                        logger.error("could not queue the audit.error alert", metadata: ["project": "\(t.projectId)", "error": "\(error)"])
                    }
                }
            }
            await events.publish("audit.failed", ["task": t.id, "project": t.projectId, "error": "\(e)"])
        }
        remember(t)
        superseded.withLock { _ = $0.remove(t.id) }
        auditing.remove(t.projectId)
        pump()
    }

    /// SIGHUP: the configuration resolved again as at start (the same command-line flags over the
    /// environment and the file). The queue's limits and the facts cache's size apply at once; the
    /// rest at the next start. A
    /// file that does not resolve changes nothing, and `guardian_config_last_reload_successful`
    /// says so (as Prometheus and Alertmanager report their reloads).
    public func reload(configFile: String?, flags: AgentConfig.Overrides = .init()) {
        do {
            let fresh = try AgentConfig.resolve(flags: flags, environment: ProcessInfo.processInfo.environment, file: configFile)
            maxConcurrentAudits = fresh.maxConcurrentAudits
            queueCapacity = fresh.queueCapacity
            Auditor.setMemoryCacheLimit(bytes: fresh.factsCacheMB << 20)
            AgentMetrics.configReloaded(successfully: true, maxConcurrentAudits: maxConcurrentAudits, queueCapacity: queueCapacity)
            logger.notice("reloaded configuration", metadata: ["max_concurrent_audits": "\(maxConcurrentAudits)", "queue_capacity": "\(queueCapacity)"])
            pump()
        } catch {
            AgentMetrics.configReloaded(successfully: false, maxConcurrentAudits: maxConcurrentAudits, queueCapacity: queueCapacity)
            logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
        }
    }

    // MARK: scheduler

    /// The retention rule (`retention_days`) over the whole store, off the actor: results older than
    /// the cut-off thinned to the latest of each commit and week, tombstones left (Store.prune).
    public nonisolated func applyRetention(now: Double = Date().timeIntervalSince1970) {
        guard config.retentionDays > 0 else { return }
        do {
            let n = try store.prune(days: config.retentionDays, now: now)
            if n > 0 { logger.info("retention: removed \(n) results older than \(config.retentionDays) days (the latest of each commit and week kept)") }
        } catch {
            logger.error("retention: pruning failed", metadata: ["error": "\(error)"])
        }
    }

    /// Enqueues audits of projects whose next scheduled time has come. Every node moves its own
    /// schedule on; only the primary audits, so a project is audited once per period in a mesh.
    public func scheduleDue(now: Double = Date().timeIntervalSince1970) async throws {
        for p in try store.dueProjects(now: now) {
            try store.setNextAudit(project: p.id, at: now + Double(p.scheduleSeconds))
            if await isPrimary(p.id) { _ = try? enqueue(project: p.id, reason: .schedule, revision: nil) }
        }
    }
}
