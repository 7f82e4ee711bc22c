import GuardianStore
import Foundation
import GuardianCore
import GuardianCrypto

/// The node's data directory: identity, store, mirrors. Default: `$GUARDIAN_DATA_DIR`, else
/// `$XDG_DATA_HOME/guardian`, else `~/.local/share/guardian`. Created with mode 0700.
public struct DataDirectory: Sendable {
    public let path: String

    public static var defaultPath: String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["GUARDIAN_DATA_DIR"], !d.isEmpty { return d }
        if let x = env["XDG_DATA_HOME"], !x.isEmpty { return x + "/guardian" }
        return (env["HOME"] ?? "/var/lib") + "/.local/share/guardian"
    }

    public init(path: String? = nil, create: Bool = true) throws {
        self.path = path ?? DataDirectory.defaultPath
        if create {
            do {
                try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw GuardianError.io("cannot create data directory \(self.path): \(error.localizedDescription)")
            }
        }
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// A project's bare mirror of its origin (fetched with libgit2).
    public func mirror(_ project: String) throws -> String { try projectPath("mirrors", project) }
    /// Objects of a project that peers sent for sharded audits (a bare repository with no remote).
    public func peerObjects(_ project: String) throws -> String { try projectPath("peer-objects", project) }

    /// `DIR/folder/<project>.git`, for a project id that passes the id grammar, and only when the
    /// path stays inside `DIR/folder` (a second guard: an id is one path component by grammar).
    func projectPath(_ folder: String, _ project: String) throws -> String {
        guard Identifier.isValid(project) else { throw GuardianError.usage(Identifier.message(project, "project id")) }
        let parent = (file(folder) as NSString).standardizingPath
        let full = ((parent as NSString).appendingPathComponent(project + ".git") as NSString).standardizingPath
        guard (full as NSString).deletingLastPathComponent == parent else {
            throw GuardianError.usage("project id '\(project)' does not name a folder inside \(parent)")
        }
        return full
    }

    /// The data directory holds keys, tokens and every team's results: it is the owner's alone.
    /// Makes the directory 0700 and the files directly in it 0600 when they were created looser (by
    /// an older version, a restored backup or a umask), and says which ones it tightened.
    @discardableResult
    public func tighten() -> [String] {
        var changed: [String] = []
        // group and other bits go; a directory keeps (or gets) the owner's rwx. Symlinks are left alone.
        func restrict(_ p: String) {
            var st = stat()
            guard lstat(p, &st) == 0 else { return }
            let isDir = (st.st_mode & S_IFMT) == S_IFDIR, isFile = (st.st_mode & S_IFMT) == S_IFREG
            guard isDir || isFile, st.st_mode & 0o077 != 0 else { return }
            if chmod(p, (st.st_mode & 0o700) | (isDir ? 0o700 : 0)) == 0 { changed.append(p) }
        }
        restrict(path)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { restrict(file(name)) }
        return changed
    }

    /// Writes a file atomically with the given mode: temporary file, fsync, rename.
    public func writeAtomically(_ name: String, _ bytes: [UInt8], mode: mode_t) throws {
        let final = file(name)
        let tmp = final + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw GuardianError.io("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var ok = bytes.withUnsafeBytes { writeAll(fd, $0) }
        if ok && fsync(fd) != 0 { ok = false }
        let err = errno
        close(fd)
        guard ok else {
            unlink(tmp)
            throw GuardianError.io("cannot write \(final): \(String(cString: strerror(err))) (disk full or read-only?)")
        }
        fchmodat(AT_FDCWD, tmp, mode, 0)
        guard rename(tmp, final) == 0 else {
            unlink(tmp)
            throw GuardianError.io("cannot replace \(final): \(String(cString: strerror(errno)))")
        }
    }
}

/// The node's Ed25519 identity: `identity.key` (base64 seed, mode 0600) and `identity.pub`
/// (base64 public key). Created on first use; an unreadable or malformed key file is an error,
/// never silently replaced.
public enum NodeIdentity {
    public static func loadOrCreate(_ dir: DataDirectory) throws -> SigningKey {
        let keyFile = dir.file("identity.key")
        if FileManager.default.fileExists(atPath: keyFile) {
            guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8),
                  let seed = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let key = try? SigningKey(seed: [UInt8](seed))
            else {
                throw GuardianError.io("\(keyFile) is not a Guardian identity (base64 Ed25519 seed); move it away to create a new identity")
            }
            return key
        }
        let key = SigningKey()
        var seed = key.exportSeed()
        defer { for i in seed.indices { seed[i] = 0 } }
        try dir.writeAtomically("identity.key", Array(Data(seed).base64EncodedString().utf8) + [10], mode: 0o600)
        try dir.writeAtomically("identity.pub", Array(key.verifyingKey.base64.utf8) + [10], mode: 0o600)
        return key
    }

    /// Public keys of the mesh members this node has seen (`member-keys.json`, written by the mesh
    /// with the peer list): what an export offline names its signers with.
    public static func memberKeys(_ dir: DataDirectory) -> [String: VerifyingKey] {
        guard let data = FileManager.default.contents(atPath: dir.file("member-keys.json")),
              let map = try? JSONDecoder().decode([String: String].self, from: data) else { return [:] }
        var out: [String: VerifyingKey] = [:]
        for (id, text) in map { if let k = try? VerifyingKey(base64: text), k.nodeID.value == id { out[id] = k } }
        return out
    }

    /// Public keys this node trusts: its own, and every `keys/*.pub` file (base64 Ed25519 public keys).
    public static func trustedKeys(_ dir: DataDirectory) -> [String: VerifyingKey] {
        var out: [String: VerifyingKey] = [:]
        if let text = try? String(contentsOfFile: dir.file("identity.pub"), encoding: .utf8),
           let k = try? VerifyingKey(base64: text) {
            out[k.nodeID.value] = k
        }
        let keysDir = dir.file("keys")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: keysDir)) ?? [] where name.hasSuffix(".pub") {
            if let text = try? String(contentsOfFile: keysDir + "/" + name, encoding: .utf8),
               let k = try? VerifyingKey(base64: text) {
                out[k.nodeID.value] = k
            }
        }
        return out
    }
}
