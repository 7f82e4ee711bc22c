import Foundation
import GuardianCore
import GuardianCrypto
import CGit2

/// Where an audit reads from: a git repository (working directory or bare), or a plain directory.
enum RepositorySource {
    case git(path: String, display: String)
    case directory(path: String)

    var isGit: Bool { if case .git = self { return true } else { return false } }

    static func isURL(_ s: String) -> Bool {
        s.contains("://") || (s.hasPrefix("git@") && s.contains(":"))
    }

    /// A URL is cloned (bare) into `<cache>/repos/<hash>.git`, or fetched when already there.
    static func open(_ target: String, cacheDirectory: String) throws -> RepositorySource {
        if isURL(target) {
            let name = Sodium.hex(Sodium.blake2b(Array(target.utf8), length: 16))
            let dir = (cacheDirectory as NSString).appendingPathComponent("repos")
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let dest = (dir as NSString).appendingPathComponent(name + ".git")
            if let repo = GitRepository.openMirror(dest) {
                try? repo.fetchOrigin()
            } else {
                try? FileManager.default.removeItem(atPath: dest)
                try GitRepository.cloneBare(url: target, to: dest)
            }
            return .git(path: dest, display: target)
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: target, isDirectory: &isDir) else {
            throw GuardianError.usage("no such file or directory: \(target)")
        }
        guard isDir.boolValue else { throw GuardianError.usage("\(target) is not a directory") }
        let abs = URL(fileURLWithPath: target).standardizedFileURL.path
        if GitRepository.isRepository(abs) { return .git(path: abs, display: abs) }
        return .directory(path: abs)
    }
}

/// Walks a plain directory without following symlinks and without leaving the root.
enum DirectoryWalker {
    struct Result { var files: [String]; var skipped: [SkippedFile] }

    static func walk(root: String) throws -> Result {
        var files: [String] = []
        var skipped: [SkippedFile] = []
        var stack: [String] = [""]
        var visited = 0
        while let rel = stack.popLast() {
            let dir = rel.isEmpty ? root : root + "/" + rel
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
                if rel.isEmpty { throw GuardianError.io("cannot read directory \(root)") }
                skipped.append(SkippedFile(path: rel, reason: "unreadable directory"))
                continue
            }
            for name in names.sorted() {
                if name == ".git" || name == ".hg" || name == ".svn" { continue }
                let r = rel.isEmpty ? name : rel + "/" + name
                var st = stat()
                guard lstat(root + "/" + r, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFLNK: skipped.append(SkippedFile(path: r, reason: "symlink (never followed)"))
                case S_IFDIR:
                    if name == ".build" || name == "node_modules" && rel.isEmpty { skipped.append(SkippedFile(path: r, reason: "build output")); continue }
                    stack.append(r)
                case S_IFREG: files.append(r)
                default: skipped.append(SkippedFile(path: r, reason: "not a regular file"))
                }
                visited += 1
                if visited > 500_000 { throw GuardianError.io("\(root) has more than 500000 entries; audit a git repository instead") }
            }
        }
        files.sort()
        return Result(files: files, skipped: skipped)
    }

    /// Reads at most `maxBytes` (a larger file is marked by reading one byte more than the analyser's limit).
    static func read(root: String, relative: String, maxBytes: Int) -> [UInt8]? {
        guard let h = FileHandle(forReadingAtPath: root + "/" + relative) else { return nil }
        defer { try? h.close() }
        guard let d = try? h.read(upToCount: maxBytes) else { return [] }
        return [UInt8](d)
    }
}

/// Bare mirrors for the agent: cloned once with libgit2, fetched before each audit.
public enum Mirror {
    /// Clones `url` into `path` if absent, else fetches every branch and tag, and `extra` refspecs.
    /// `credentials` answer an HTTPS server's login challenge (private repositories).
    public static func sync(url: String, to path: String, credentials: GitCredentials? = nil, extra: [String] = []) throws {
        if let repo = GitRepository.openMirror(path) {
            try repo.fetchOrigin(credentials: credentials, extra: extra)
        } else {
            try? FileManager.default.removeItem(atPath: path)
            try GitRepository.cloneBare(url: url, to: path, credentials: credentials, extra: extra)
        }
    }

    /// The refs of the repository at `url` (`git ls-remote`), read with `credentials`; throws
    /// `CredentialsRefused` when the server refused them.
    public static func listRemote(url: String, credentials: GitCredentials? = nil) throws -> [String] {
        try GitRepository.listRemote(url: url, credentials: credentials)
    }

    /// Lines `line - radius ... line + radius` (numbered from 1) of `file` at `commit` in the mirror at
    /// `path`: what a finding points at, for the dashboard. Nil when the mirror, the commit or the
    /// file is not there, or the file is not text (a NUL byte) or larger than 1 MiB.
    public static func lines(of file: String, at commit: String, in path: String, around line: Int, radius: Int) -> [(number: Int, text: String)]? {
        lines(of: [(file, line)], at: commit, in: path, radius: radius).first ?? nil
    }

    /// The same for many places at one commit, with the mirror opened once.
    public static func lines(of places: [(file: String, line: Int)], at commit: String, in path: String, radius: Int) -> [[(number: Int, text: String)]?] {
        guard let repo = try? GitRepository(path: path), let oid = try? repo.resolve(commit) else { return places.map { _ in nil } }
        return places.map { lines(of: $0.file, at: oid, in: repo, around: $0.line, radius: radius) }
    }

    static func lines(of file: String, at oid: git_oid, in repo: GitRepository, around line: Int, radius: Int) -> [(number: Int, text: String)]? {
        guard line >= 1, let blob = repo.blob(at: file, commit: oid), repo.blobSize(blob) <= 1 << 20 else { return nil }
        return try? repo.withBlob(blob) { bytes -> [(number: Int, text: String)]? in
            if bytes.contains(0) { return nil }
            var out: [(number: Int, text: String)] = []
            var number = 1, start = 0
            let lo = line - radius, hi = line + radius
            for i in 0...bytes.count where i == bytes.count || bytes[i] == 10 {
                if number >= lo && number <= hi && !(i == bytes.count && start == i) {
                    var end = i
                    if end > start && bytes[end - 1] == 13 { end -= 1 }
                    out.append((number, String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)))
                }
                number += 1
                start = i + 1
                if number > hi { break }
            }
            return out
        } ?? nil
    }

    /// The commit a revision resolves to in a mirror.
    public static func resolve(_ rev: String, in path: String) throws -> String {
        GitRepository.hex(try GitRepository(path: path).resolve(rev))
    }
}
