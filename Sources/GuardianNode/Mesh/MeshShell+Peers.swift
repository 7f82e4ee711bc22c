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

/// The durable peer list (peers.json): members to try again after a restart.
extension MeshShell {
    func savedPeers() -> [String] {
        guard let d = FileManager.default.contents(atPath: peersFile), let list = try? JSONDecoder().decode([String].self, from: d) else { return [] }
        return list
    }

    func savePeers() {
        peersDirty = false
        let list = instance.others.filter { $0.status != .left }.map(\.meta.address).sorted()
        guard let data = try? JSONEncoder().encode(list) else { return }
        try? dataDir.writeAtomically("peers.json", [UInt8](data), mode: 0o600)
        // members' public keys, merged into what was kept before: an offline export names its signers with them
        let keysFile = dataDir.file("member-keys.json")
        var keys = (FileManager.default.contents(atPath: keysFile).flatMap { try? JSONDecoder().decode([String: String].self, from: $0) }) ?? [:]
        let before = keys.count
        for (id, k) in memberKeys { keys[id] = k.text }
        if keys.count != before, let data = try? JSONEncoder().encode(keys) {
            try? dataDir.writeAtomically("member-keys.json", [UInt8](data), mode: 0o600)
        }
    }
}
