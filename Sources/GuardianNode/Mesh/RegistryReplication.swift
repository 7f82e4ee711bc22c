import Foundation
import GuardianStore
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Registry replication, a service of its own beside the membership shell: each local registry
/// write pushed to every live member, full-state sessions with members (after each push-pull, and
/// served when a member opens one), over the shell's streams.
public actor RegistryReplication: Service {
    let mesh: MeshShell
    let registry: ReplicatedRegistry
    let logger: Logger

    public init(mesh: MeshShell, registry: ReplicatedRegistry, logger: Logger) {
        self.mesh = mesh
        self.registry = registry
        self.logger = logger
    }

    /// Pushes local writes until the node shuts down.
    public func run() async throws {
        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await self.pushLoop() }
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
    }

    /// Serves one frame of a registry session; the reply, or nil to end the session.
    func session(_ frame: ByteBuffer) async throws -> ByteBuffer? {
        guard let plain = await mesh.opened(frame, .registry) else { return nil }
        guard let message = try? RegistrySync.decode(plain) else { await mesh.refuse("malformed"); return nil }
        switch message {
        case .records(let rs):
            let o = try await registry.merge(rs)
            return await mesh.sealed(.registry, RegistrySync.ack(applied: o.applied, refused: o.refused + o.malformed + o.invalid).encode())
        case .digest(let d):
            if d == (try registry.digest()) { return await mesh.sealed(.registry, RegistrySync.inSync.encode()) }
            return await mesh.sealed(.registry, RegistrySync.stamps(try registry.stamps()).encode())
        case .exchange(let rs, let want):
            try await registry.merge(rs)
            return await mesh.sealed(.registry, RegistrySync.records(try registry.records(want)).encode())
        case .ack, .inSync, .stamps:
            await mesh.refuse("malformed")
            return nil
        }
    }

    func message(_ frame: ByteBuffer?) async -> RegistrySync? {
        guard let frame, let plain = await mesh.opened(frame, .registry) else { return nil }
        guard let m = try? RegistrySync.decode(plain) else { await mesh.refuse("malformed"); return nil }
        return m
    }

    /// Anti-entropy with one member: digests first (an idle round is two small frames), then exactly
    /// the records that differ, both ways. True when the two registries now agree.
    @discardableResult
    func sync(with address: String) async -> Bool {
        guard let digest = try? registry.digest() else { return false }
        let (mesh, registry) = (mesh, registry)
        do {
            return try await mesh.withStream(to: address) { it, out in
                try await out.write(await mesh.sealed(.registry, RegistrySync.digest(digest).encode()))
                switch await self.message(try await it.next()) {
                case .inSync?: return true
                case .stamps(let theirs)?:
                    let (send, want) = RegistrySync.diff(mine: try registry.stamps(), theirs: theirs)
                    let message = RegistrySync.exchange(records: try registry.records(send), want: want)
                    try await out.write(await mesh.sealed(.registry, message.encode()))
                    guard case .records(let rs)? = await self.message(try await it.next()) else { return false }
                    try await registry.merge(rs)
                    return true
                default: return false
                }
            }
        } catch {
            logger.debug("mesh: registry sync with \(address) failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Local writes not pushed yet.
    final class Pending: Sendable {
        let records = Mutex<[RegistryRecord]>([])
    }

    /// Records pushed in one frame at most, and their values' bytes at most (a frame from a member
    /// may hold 16 MiB; a record's value up to 64 KiB).
    static let pushBatch = 256
    static let pushBatchBytes = 4 << 20
    /// Writes waiting for a push at most; the oldest go first (anti-entropy repairs what they miss).
    static let pendingLimit = 10_000

    /// Pushes local registry writes to every live member at once; anti-entropy repairs whatever a
    /// push misses (a member down, a lost connection). The writes made while a push waits for its
    /// answers go together in the next frame: one round trip per record made a burst of
    /// registrations (a fleet registered through one node) reach the other owners seconds late.
    func pushLoop() async {
        let pending = Pending()
        let (wake, wakeInput) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let (mesh, registry) = (mesh, registry)
        await withDiscardingTaskGroup { tasks in
            tasks.addTask {
                for await record in registry.outbox {
                    pending.records.withLock {
                        $0.append(record)
                        if $0.count > Self.pendingLimit { $0.removeFirst($0.count - Self.pendingLimit) }
                    }
                    wakeInput.yield()
                }
                wakeInput.finish()
            }
            tasks.addTask {
                for await _ in wake {
                    while !Task.isCancelled {
                        let batch = pending.records.withLock { p -> [RegistryRecord] in
                            var n = 0, bytes = 0
                            while n < p.count, n < Self.pushBatch, n == 0 || bytes + (p[n].value?.count ?? 0) <= Self.pushBatchBytes {
                                bytes += p[n].value?.count ?? 0
                                n += 1
                            }
                            let b = Array(p.prefix(n))
                            p.removeFirst(n)
                            return b
                        }
                        if batch.isEmpty { break }
                        let frame = await mesh.sealed(.registry, RegistrySync.records(batch).encode())
                        await mesh.send(frame, as: .registry, to: await mesh.liveOthers.map(\.meta.address))
                    }
                }
            }
        }
    }
}
