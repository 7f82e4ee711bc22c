import GuardianHTTP
import GuardianNode
import GuardianStore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs a node: HTTP API, scheduler, mesh and audits as services of one `ServiceGroup`, stopped in reverse order
/// on SIGTERM/SIGINT; SIGHUP re-reads the config file and applies what can change at run time.
public enum Agent {
    public static func run(config: AgentConfig, configFile: String?, flags: AgentConfig.Overrides = .init(), logger: Logger) async throws {
        _ = AgentMetrics.registry // bootstrap swift-metrics before anything records
        // Everything the agent creates (the store and its WAL, mirrors, keys) is the owner's alone.
        umask(0o077)
        let node = try Node(config: config, logger: logger)
        let tokenFile = try await node.ensureAdminToken()
        let (host, port) = try AgentConfig.parseAddress(config.httpAddr, what: "http address")
        let mesh = try config.clusterKey.map { _ in
            try MeshShell(config: config, signer: node.identity, dataDir: node.dataDir, events: node.events, logger: logger)
        }
        let replication = mesh.map { mesh in
            ResultReplication(mesh: mesh, storage: .init(store: node.store, keys: { node.knownKeys() }) { records, keys in
                await node.storeReplicas(records, signers: keys)
            }, config: config, logger: logger)
        }
        let registrySync = mesh.map { RegistryReplication(mesh: $0, registry: node.registry, logger: logger) }
        if let mesh, let replication, let registrySync {
            await mesh.attach(registry: registrySync)
            await mesh.attach(results: replication)
            let shards = ShardedAnalysis(mesh: mesh, config: config, logger: logger, store: node.store, dataDir: node.dataDir, signer: node.identity)
            await mesh.attach(shards: shards)
            await node.attach(owners: { await mesh.owners(of: $0) }, results: { await replication.pushResult($0) },
                              shards: { await shards.analyseShards(project: $0, commit: $1, files: $2, limits: $3, mirror: $4) })
        }
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        let readiness = Readiness(waitingFor: mesh == nil ? ["http"] : ["http", "gossip"]) {
            logger.info("ready: sockets bound")
            notifier?.send("READY=1\nSTATUS=serving")
        }
        if let mesh { await mesh.attach(onBound: { readiness.up("gossip") }) }
        if mesh == nil { logger.notice("no cluster key: running as a single node (guardian keygen makes one; see docs/mesh.md)") }
        let tls = try ServerTLS(config)
        PeerTransport.configure(config)
        let server = try API.server(config, tls: tls)
        let scheme = config.httpScheme
        let pointer = Mutex<AgentPointer?>(nil)
        let api = API(node: node, mesh: mesh, replication: replication)
        let alerts = try AlertSender(api: api, logger: logger)
        if let mesh { await mesh.attach(memberEvents: { await alerts.memberEvent($0) }) }
        let app = Application(router: api.router(), server: server,
                              configuration: .init(address: .hostname(host, port: port), serverName: "guardian"),
                              onServerRunning: { channel in
                                  let addr = channel.localAddress.map { "\($0)" } ?? config.httpAddr
                                  if let bound = channel.localAddress?.port {
                                      node.serverBound(host: host, port: bound)
                                      if let mesh { Task { await mesh.setHTTPAddress(host: host, port: bound) } }
                                      let p = AgentPointer(dataDir: node.dataDir.path, httpAddr: "\(scheme)://\(host):\(bound)", pid: getpid(),
                                                           ca: config.tlsCA)
                                      pointer.withLock { $0 = p }
                                      let written = p.write(environment: ProcessInfo.processInfo.environment)
                                      logger.debug("agent address written for the CLI", metadata: ["files": "\(written)"])
                                  }
                                  readiness.up("http")
                                  var lines = ["guardian agent \(node.nodeID.prefix(7)) listening on \(scheme)://\(host):\(channel.localAddress?.port ?? port) (\(addr))",
                                               "data directory: \(node.dataDir.path)"]
                                  if let tokenFile { lines.append("admin token written to \(tokenFile) (mode 0600)") }
                                  lines.append("try: curl -H \"Authorization: Bearer $(cat \(node.dataDir.file("admin.token")))\" \(scheme)://\(host):\(channel.localAddress?.port ?? port)/v1/projects")
                                  FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
                              },
                              logger: logger)
        let scheduler = SchedulerService(node: node, configFile: configFile, flags: flags, tls: tls, logger: logger)
        // stopped in reverse order: audits first (the running ones finish, are stored and pushed),
        // then replication, the mesh, the scheduler and the HTTP server
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app), .init(service: scheduler)]
        if let mesh { services.append(.init(service: mesh)) }
        if let mesh { services.append(.init(service: LANDiscovery(mesh: mesh, config: config, logger: logger))) }
        if let registrySync { services.append(.init(service: registrySync)) }
        if let replication { services.append(.init(service: replication)) }
        services.append(.init(service: alerts))
        services.append(.init(service: AuditService(node: node)))
        // last, so that a shutdown reaches it first and systemd hears STOPPING=1 at once
        if let notifier { services.append(.init(service: SystemdService(notifier: notifier, healthy: { (try? node.store.tokenCount()) != nil }))) }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger))
        defer { pointer.withLock { $0 }?.remove(environment: ProcessInfo.processInfo.environment) }
        try await group.run()
        await node.events.finishAll()
    }
}

/// Enqueues scheduled audits every few seconds and handles SIGHUP reloads. Its description is its
/// name alone: ServiceLifecycle logs services at debug, and the flags may hold the cluster key.
struct SchedulerService: Service, CustomStringConvertible {
    var description: String { "SchedulerService" }
    let node: Node
    let configFile: String?
    /// The command line's settings, kept over the file and the environment on a reload.
    let flags: AgentConfig.Overrides
    /// The API's certificate, read again on SIGHUP.
    let tls: ServerTLS?
    let logger: Logger

    func run() async throws {
        let hup = await UnixSignalsSequence(trapping: .sighup)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in hup.cancelOnGracefulShutdown() {
                    await node.reload(configFile: configFile, flags: flags)
                    if let tls {
                        do {
                            let expires = Date(timeIntervalSince1970: try tls.reload())
                            logger.notice("reloaded the TLS certificate", metadata: ["expires": "\(expires)"])
                        } catch {
                            logger.error("TLS reload failed; keeping the certificate in use", metadata: ["error": "\(error)"])
                        }
                    }
                }
            }
            group.addTask {
                var ticks = 0
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await node.scheduleDue()
                    if ticks % 300 == 0 { node.applyRetention() } // at start, then every 10 minutes
                    ticks += 1
                    if ticks % 5 == 0 { await node.events.heartbeat() } // lets event streams notice gone clients, within a peer client's 15 s read timeout
                    try? await Task.sleep(for: .seconds(2))
                }
            }
            try await gracefulShutdown()
            // End event streams first, so that the HTTP server (stopped after this service) can drain.
            await node.events.finishAll()
            group.cancelAll()
        }
    }
}

/// Tells systemd the agent is alive every half `WatchdogSec` while it runs and its store answers
/// (a stalled runtime or a wedged store stops the pings, and systemd restarts the unit), and
/// `STOPPING=1` as soon as a shutdown begins.
struct SystemdService: Service, CustomStringConvertible {
    var description: String { "SystemdService" }
    let notifier: SystemdNotifier
    let healthy: @Sendable () -> Bool

    func run() async throws {
        if let interval = notifier.watchdogInterval {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if healthy() { notifier.send("WATCHDOG=1") }
                try? await cancelOnGracefulShutdown { try await Task.sleep(for: interval) }
            }
        } else {
            try? await gracefulShutdown()
        }
        notifier.send("STOPPING=1")
    }
}
