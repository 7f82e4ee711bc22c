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

/// The cluster keyring: loaded from and saved to the data directory, changed at run time.
extension MeshShell {
    struct KeyringFile: Codable { var primary: String; var keys: [String] }

    /// The keyring is kept in `DATA_DIR/keyring.json` (mode 0600) once it exists, so rotations made
    /// with `guardian keys` survive restarts; the configured key is installed if it is not there.
    static func loadKeyring(_ dir: DataDirectory, configured: String) throws -> ClusterKeyring {
        let path = dir.file("keyring.json")
        do {
            if let data = FileManager.default.contents(atPath: path) {
                guard let f = try? JSONDecoder().decode(KeyringFile.self, from: data) else {
                    throw GuardianError.io("\(path) is not a keyring file; fix or remove it")
                }
                var ring = try ClusterKeyring(primary: f.primary, others: f.keys)
                try ring.install(configured)
                return ring
            }
            let ring = try ClusterKeyring(primary: configured)
            try saveKeyring(ring, dir)
            return ring
        } catch let e as GuardianError { throw e } catch {
            throw GuardianError.usage("cluster key: \(error)")
        }
    }

    static func saveKeyring(_ ring: ClusterKeyring, _ dir: DataDirectory) throws {
        let f = KeyringFile(primary: ring.primary.text, keys: ring.keys.map(\.text))
        try dir.writeAtomically("keyring.json", [UInt8](try JSONEncoder().encode(f)), mode: 0o600)
    }

    public enum KeyAction: String, Sendable { case install, use, remove }

    /// Installs, makes primary or removes a key, and keeps the change on disk.
    public func changeKey(_ action: KeyAction, _ key: String) throws {
        var ring = keyring
        switch action {
        case .install: try ring.install(key)
        case .use: try ring.use(key)
        case .remove: try ring.remove(key)
        }
        try Self.saveKeyring(ring, dataDir)
        keyring = ring
        logger.notice("mesh: key \(action.rawValue)", metadata: ["keys": "\(ring.keys.count)"])
    }

    /// Key ids (hex of the first 4 bytes of BLAKE2b(key)) and which one seals.
    public func keyIDs() -> (primary: String, all: [String]) {
        (Sodium.hex(keyring.primaryID), keyring.keys.map { Sodium.hex($0.id) })
    }
}
