import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianStore

/// `guardian backup` and `guardian restore`: the store (SQLite's online backup API, safe while the
/// node runs) and the data directory's small files in one file. Mirrors, peer objects and the
/// analysis cache are left out: a restored node fetches and computes them again.
public enum NodeBackup {
    /// The files a node cannot do without: its identity (results are signed with it, the node id
    /// derives from it), the key sealing credentials and webhook secrets, the first admin token,
    /// the cluster keyring, the peers and member keys it knew, and the keys it trusts.
    static let names = ["identity.key", "identity.pub", "secret.key", "admin.token", "keyring.json", "peers.json", "member-keys.json"]

    static func files(_ dir: DataDirectory) -> [String: Data] {
        var out: [String: Data] = [:]
        for name in names {
            if let d = FileManager.default.contents(atPath: dir.file(name)) { out[name] = d }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.file("keys"))) ?? [] where name.hasSuffix(".pub") {
            if let d = FileManager.default.contents(atPath: dir.file("keys") + "/" + name) { out["keys/" + name] = d }
        }
        return out
    }

    public static func take(dataDir: DataDirectory, output: String) throws -> StoreBackup.Summary {
        let store = dataDir.file("guardian.sqlite")
        guard FileManager.default.fileExists(atPath: store) else {
            throw GuardianError.usage("no store in \(dataDir.path) (is it the agent's data directory? --data-dir or GUARDIAN_DATA_DIR)")
        }
        let files = files(dataDir)
        guard files["identity.key"] != nil else { throw GuardianError.usage("no identity.key in \(dataDir.path)") }
        return try StoreBackup.take(store: store, files: files, to: output)
    }

    public struct Restored: Sendable {
        public var results: Int
        public var projects: Int
        public var nodeID: String
    }

    /// Restores `file` into `dataDir`, which must be empty or absent. Every result is checked first
    /// (its id is the hash of its envelope, and its signature verifies with a key the backup
    /// trusts); one that does not stops the restore before anything is written.
    public static func restore(file: String, into path: String) throws -> Restored {
        if FileManager.default.fileExists(atPath: path) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard entries.isEmpty else {
                throw GuardianError.usage("\(path) is not empty: restore only into an empty or new data directory (stop the agent and move the old one away)")
            }
        }
        let opened = try StoreBackup.open(file)
        guard opened.files["identity.key"] != nil, let pub = opened.files["identity.pub"],
              let me = try? VerifyingKey(base64: String(decoding: pub, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw GuardianError.usage("\(file) holds no node identity") }
        for name in opened.files.keys where !Self.safeName(name) {
            throw GuardianError.usage("\(file) names a file outside the data directory: \(name)")
        }
        // the keys the node trusted: its own, keys/*.pub and the mesh members it had seen
        var trusted: [String: VerifyingKey] = [me.nodeID.value: me]
        for (name, data) in opened.files where name.hasPrefix("keys/") {
            if let k = try? VerifyingKey(base64: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) {
                trusted[k.nodeID.value] = k
            }
        }
        if let data = opened.files["member-keys.json"], let map = try? JSONDecoder().decode([String: String].self, from: data) {
            for (id, text) in map { if let k = try? VerifyingKey(base64: text), k.nodeID.value == id { trusted[id] = k } }
        }
        var checked = 0
        try opened.forEachResult { id, envelope in
            let bytes = [UInt8](envelope)
            guard DSSE.recordID(bytes) == id else { throw GuardianError.usage("result \(id.prefix(12)) in \(file) does not match its id: the backup is damaged") }
            do { _ = try Attestation.verifySummary(bytes, trusted: trusted) } catch {
                throw GuardianError.usage("result \(id.prefix(12)) in \(file) does not verify: \(error)")
            }
            checked += 1
        }
        // written into a sibling directory and renamed into place when whole: a restore that fails
        // part-way (a full disk) leaves no directory with the node's identity and no store
        let target = (path as NSString).standardizingPath
        let staging = target + ".restoring-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        do {
            let dir = try DataDirectory(path: staging)
            for (name, data) in opened.files.sorted(by: { $0.key < $1.key }) {
                if name.hasPrefix("keys/") {
                    try FileManager.default.createDirectory(atPath: dir.file("keys"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                }
                try dir.writeAtomically(name, [UInt8](data), mode: 0o600)
            }
            try StoreBackup.restore(opened, to: dir.file("guardian.sqlite"))
            if FileManager.default.fileExists(atPath: target) { guard rmdir(target) == 0 else { throw GuardianError.io("cannot replace the empty \(target)") } }
            guard rename(staging, target) == 0 else { throw GuardianError.io("cannot rename \(staging) to \(target): \(String(cString: strerror(errno)))") }
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        return Restored(results: checked, projects: opened.summary.projects, nodeID: me.nodeID.value)
    }

    /// A file name from a backup: one of the known names, or `keys/NAME.pub` with a plain name.
    static func safeName(_ name: String) -> Bool {
        if names.contains(name) { return true }
        guard name.hasPrefix("keys/"), name.hasSuffix(".pub") else { return false }
        let base = name.dropFirst(5)
        return !base.isEmpty && !base.contains("/") && !base.hasPrefix(".") && base.utf8.count < 200
    }
}
