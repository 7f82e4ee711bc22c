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

/// Registry replication: full-state sessions with members, and the loop that starts them.
extension MeshNode {
    /// Serves one frame of a registry session; the reply, or nil to end the session.
    func registrySession(_ frame: ByteBuffer) async throws -> ByteBuffer? {
        guard let registry, let plain = opened(frame, .registry) else { return nil }
        guard let message = try? RegistrySync.decode(plain) else { refuse("malformed"); return nil }
        switch message {
        case .records(let rs):
            let o = try await registry.merge(rs)
            return sealed(.registry, RegistrySync.ack(applied: o.applied, refused: o.refused + o.malformed + o.invalid).encode())
        case .digest(let d):
            if d == (try registry.digest()) { return sealed(.registry, RegistrySync.inSync.encode()) }
            return sealed(.registry, RegistrySync.stamps(try registry.stamps()).encode())
        case .exchange(let rs, let want):
            try await registry.merge(rs)
            return sealed(.registry, RegistrySync.records(try registry.records(want)).encode())
        case .ack, .inSync, .stamps:
            refuse("malformed")
            return nil
        }
    }

    func registryMessage(_ frame: ByteBuffer?) -> RegistrySync? {
        guard let frame, let plain = opened(frame, .registry) else { return nil }
        guard let m = try? RegistrySync.decode(plain) else { refuse("malformed"); return nil }
        return m
    }

    /// Anti-entropy with one member: digests first (an idle round is two small frames), then exactly
    /// the records that differ, both ways. True when the two registries now agree.
    @discardableResult
    public func syncRegistry(with address: String) async -> Bool {
        guard let registry, let digest = try? registry.digest() else { return false }
        do {
            return try await withStream(to: address) { it, out in
                try await out.write(await self.sealed(.registry, RegistrySync.digest(digest).encode()))
                switch await self.registryMessage(try await it.next()) {
                case .inSync?: return true
                case .stamps(let theirs)?:
                    let (send, want) = RegistrySync.diff(mine: try registry.stamps(), theirs: theirs)
                    let message = RegistrySync.exchange(records: try registry.records(send), want: want)
                    try await out.write(await self.sealed(.registry, message.encode()))
                    guard case .records(let rs)? = await self.registryMessage(try await it.next()) else { return false }
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

    /// Pushes each local registry write to every live member at once; anti-entropy repairs whatever
    /// a push misses (a member down, a lost connection).
    func replicateLoop() async {
        guard let registry else { return }
        for await record in registry.outbox {
            await send(sealed(.registry, RegistrySync.records([record]).encode()), as: .registry, to: liveOthers.map(\.meta.address))
        }
    }

    /// Sends one sealed frame to each address at once and reads the answers; returns the addresses
    /// that stored everything (result pushes) or answered (registry pushes). Failures are logged.
    @discardableResult
    func send(_ frame: ByteBuffer, as kind: Stream, to addresses: [String]) async -> Set<String> {
        await withTaskGroup(of: String?.self) { g in
            for a in addresses {
                g.addTask {
                    do {
                        let answer = try await self.withStream(to: a) { it, out in
                            try await out.write(frame)
                            return try await it.next()
                        }
                        guard let answer, let plain = await self.opened(answer, kind) else { return nil }
                        guard kind == .results else { return a }
                        guard case .pushed(_, let refused)? = try? ResultSync.decode(plain), refused == 0 else { return nil }
                        return a
                    } catch {
                        self.logger.debug("mesh: \(kind) push to \(a) failed", metadata: ["error": "\(error)"])
                        return nil
                    }
                }
            }
            var answered: Set<String> = []
            for await a in g { if let a { answered.insert(a) } }
            return answered
        }
    }
}
