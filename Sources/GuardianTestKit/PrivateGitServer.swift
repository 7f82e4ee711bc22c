import Foundation

/// A private HTTP git server on loopback (`scripts/git-http-server.py`: `git http-backend` behind
/// Basic auth), serving bare repositories under `root`, for tests of repository credentials.
public final class PrivateGitServer: @unchecked Sendable { // used from one test
    public let root: String
    public let port: Int
    private let process: Process

    public init(root: String, user: String, password: String) throws {
        self.root = root
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/git-http-server.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [script, root, user, password]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let line = out.fileHandleForReading.availableLine()
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)), port > 0 else {
            p.terminate()
            throw FixtureError(message: "the git HTTP server did not start (\(line))")
        }
        self.port = port
    }

    /// Publishes `repo` as `name.git` (a bare clone) and returns its URL.
    public func publish(_ repo: FixtureRepo, as name: String) throws -> String {
        _ = try FixtureRepo.run("/usr/bin/git", ["clone", "-q", "--bare", repo.path, root + "/\(name).git"], env: ProcessInfo.processInfo.environment)
        return "http://127.0.0.1:\(port)/\(name).git"
    }

    deinit { process.terminate(); process.waitUntilExit() }
}

extension FileHandle {
    /// Reads up to the first newline (the child prints its port, then keeps the pipe open).
    func availableLine() -> String {
        var bytes: [UInt8] = []
        while true {
            let d = readData(ofLength: 1)
            guard let b = d.first, b != 10 else { break }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
