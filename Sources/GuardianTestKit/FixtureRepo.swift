import Foundation

/// Builds throwaway git repositories for tests with the `git` command line, so that fixtures are
/// real repositories (objects, trees, history) exactly as users have them.
public final class FixtureRepo: @unchecked Sendable { // used from one test at a time
    public let path: String
    /// Seconds since 1970 of the next commit (each git call moves it on a minute); a test may jump it.
    public var clock = 1_700_000_000

    public init(bare: Bool = false, initGit: Bool = true) throws {
        // A child that exits before reading its input must not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-fixture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
        if initGit { try git("init", "-q", "-b", "main") }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    public func git(_ args: String...) throws -> String { try git(args) }

    @discardableResult
    public func git(_ args: [String], input: String? = nil) throws -> String {
        clock += 60
        var env = ProcessInfo.processInfo.environment
        env["GIT_AUTHOR_NAME"] = env["GUARDIAN_FIXTURE_AUTHOR"] ?? "Fixture Author"
        env["GIT_AUTHOR_EMAIL"] = "author@example.com"
        env["GIT_COMMITTER_NAME"] = "Fixture Author"
        env["GIT_COMMITTER_EMAIL"] = "author@example.com"
        env["GIT_AUTHOR_DATE"] = "\(clock) +0000"
        env["GIT_COMMITTER_DATE"] = "\(clock) +0000"
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        return try FixtureRepo.run("/usr/bin/git", ["-C", path, "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"] + args,
                                   env: env, input: input)
    }

    /// Writes a file (creating folders) relative to the repository root.
    public func write(_ relative: String, _ content: String) throws {
        try write(relative, Data(content.utf8))
    }

    public func write(_ relative: String, _ data: Data) throws {
        let url = URL(fileURLWithPath: path).appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    public func remove(_ relative: String) throws {
        try FileManager.default.removeItem(atPath: path + "/" + relative)
    }

    /// Stages everything and commits; returns the commit id.
    @discardableResult
    public func commit(_ message: String, author: String? = nil) throws -> String {
        try git("add", "-A")
        var args = ["commit", "-q", "--allow-empty", "-m", message]
        if let author { args += ["--author", "\(author) <\(author.lowercased().replacingOccurrences(of: " ", with: "."))@example.com>"] }
        try git(args)
        return try git("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Many commits quickly, through `git fast-import`.
    public func fastHistory(commits: Int, file: String = "history.txt") throws {
        var stream = ""
        for i in 0..<commits {
            let content = "line \(i)\n"
            stream += "commit refs/heads/main\ncommitter Bulk <bulk@example.com> \(1_600_000_000 + i) +0000\n"
            stream += "data \(("bulk commit \(i)").utf8.count)\nbulk commit \(i)\n"
            stream += "M 100644 inline \(file)\ndata \(content.utf8.count)\n\(content)\n"
        }
        try git(["fast-import", "--quiet"], input: stream)
        try git("reset", "-q", "--hard", "main")
    }

    @discardableResult
    public static func run(_ exe: String, _ args: [String], env: [String: String]? = nil, input: String? = nil,
                           cwd: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let env { p.environment = env }
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        if let input { try? inPipe.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let edata = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FixtureError(message: "\(exe) \(args.joined(separator: " ")) exited \(p.terminationStatus): "
                + String(decoding: edata, as: UTF8.self))
        }
        return String(decoding: data, as: UTF8.self)
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

/// Result of running a command: exit status and both streams.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum CommandRunner {
    /// `run` on a thread of its own, awaited: a test that waits for a command this way leaves the
    /// test process's cooperative threads (one per core) to the in-process servers and timers of
    /// the tests running beside it.
    public static func runAsync(_ exe: String, _ args: [String], cwd: String? = nil, env: [String: String] = [:]) async throws -> CommandResult {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<CommandResult, any Error>) in
            Thread { c.resume(with: Result { try run(exe, args, cwd: cwd, env: env) }) }.start()
        }
    }

    public static func run(_ exe: String, _ args: [String], cwd: String? = nil, env: [String: String] = [:]) throws -> CommandResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Read both pipes concurrently so a large report cannot fill one and block the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return CommandResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }
}
