import GuardianStore
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Members as the rest of the node sees them: claims for forwarded HTTP requests, their HTTP
/// addresses, joins, and forced leaves.
extension MeshShell {
    /// The sealed `X-Guardian-Member` header for a request this node forwards (`MemberClaim`).
    public func sealClaim(_ claim: MemberClaim) -> String {
        Sodium.base64Encode(ClusterSeal.seal(claim.encode(), keyring: keyring, context: .member, now: wall()))
    }

    /// The claim a member header proves, or nil (counted) when it does not open, was seen before,
    /// is stale, or is not a claim. The caller checks that it names this node and the request.
    public func openClaim(_ header: String) -> MemberClaim? {
        guard header.utf8.count <= 16 << 10, let sealed = Sodium.base64Decode(header) else { refuse("malformed"); return nil }
        let plain: [UInt8]
        do { plain = try ClusterSeal.open(sealed, keyring: keyring, context: .member, replay: &memberReplay, now: wall()) } catch {
            refuse(error.rawValue)
            return nil
        }
        guard let claim = MemberClaim.decode(plain) else { refuse("forged"); return nil }
        return claim
    }

    /// HTTP addresses of live members by name (this node included).
    public func httpAddresses() -> [String: String] {
        var out = [config.name: httpAddress]
        for m in liveOthers { out[m.name] = m.meta.httpAddress }
        return out
    }

    /// Alerts hear of membership changes.
    public func attach(memberEvents f: @escaping @Sendable (MemberEvent) async -> Void) { memberEvents = f }

    /// Result replication serves the results streams members open.
    public func attach(results: ResultReplication) { self.results = results }

    /// Sharded analysis serves the shard streams members open.
    public func attach(shards: ShardedAnalysis) { self.shards = shards }

    /// Registry replication serves the registry sessions members open, and follows each push-pull.
    public func attach(registry: RegistryReplication) { registrySync = registry }

    /// Public keys of the known members (and this node): who may sign a result stored here.
    public func signerKeys() -> [String: VerifyingKey] {
        var keys = memberKeys.mapValues(\.key)
        keys[identity.nodeID.value] = identity
        return keys
    }

    /// The gossip address and key of a live member.
    func liveMember(_ name: String) -> (String, VerifyingKey)? {
        guard let m = liveOthers.first(where: { $0.name == name }), let key = memberKeys[m.meta.id]?.key else { return nil }
        return (m.meta.address, key)
    }

    /// Gossip addresses of the live members by name.
    func liveAddresses() -> [String: String] {
        Dictionary(liveOthers.map { ($0.name, $0.meta.address) }, uniquingKeysWith: { a, _ in a })
    }

    /// How long each named member has looked gone here (suspect, dead or left: how long since its
    /// status last changed), nil for this node and the members seen alive; a member this node does
    /// not know at all counts as gone for as long as this node has run.
    public func goneFor(_ names: [String]) -> [String: Millis] {
        let now = mono()
        var out: [String: Millis] = [:]
        let known = Dictionary(instance.others.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for n in names where n != config.name {
            guard let m = known[n] else { out[n] = now; continue }
            if m.status != .alive { out[n] = max(0, now - m.since) }
        }
        return out
    }

    /// Other members that are alive or suspect.
    var liveOthers: [Member] { instance.others.filter(\.status.isLive) }

    func pushPullLoop() async {
        let interval = Double(config.pushPullSeconds)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000 * Double.random(in: 0.75...1.25))))
            guard !instance.leaving else { continue }
            if let peer = instance.pushPullPeer() {
                await exchange(with: peer.meta.address)
            } else {
                // alone (or everyone forgotten): try the configured and remembered peers again
                for a in config.join + savedPeers() where await exchange(with: a) { break }
            }
        }
    }

    /// Joins through each address, retrying with backoff (1 s doubling to 30 s) until it answers.
    func joinAll(_ addresses: [String]) async {
        await withDiscardingTaskGroup { group in
            for a in Set(addresses) where a != advertised {
                group.addTask {
                    var delay = 1.0
                    while !Task.isCancelled {
                        if await self.exchange(with: a) {
                            await self.logJoined(a)
                            return
                        }
                        try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                        delay = min(30, delay * 2)
                    }
                }
            }
        }
    }

    func logJoined(_ a: String) { logger.notice("mesh: joined through \(a)") }

    /// `guardian force-leave NAME`.
    public func forceLeave(_ name: String) async throws {
        let now = mono()
        let ds: [SWIMInstance.Directive]
        do { ds = try instance.forceLeave(name, now: now) } catch {
            throw NodeError(error.kind == .noSuchMember ? .notFound : .conflict, "force_leave_refused", error.message)
        }
        await carryOut(ds)
    }

    /// `guardian join` at run time: one attempt, answered with the number of members now known.
    public func join(_ address: String) async -> Int? {
        guard await exchange(with: address) else { return nil }
        return instance.liveCount
    }
}
