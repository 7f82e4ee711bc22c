import Foundation
import GuardianTestKit
import Testing

/// Project mirrors through git's `url.insteadOf`: a remote URL that a site points at a repository
/// on this machine, as a team server with local mirrors does. Real agents, real libgit2.
@Suite(.serialized) struct MirrorTests {
    static let url = "https://git.example.invalid/team/demo.git"

    /// A HOME whose .gitconfig sends `url` to `repo`, after `padding` rules that match nothing.
    static func home(pointing url: String, at repo: String, padding: Int = 0) throws -> String {
        let home = NSTemporaryDirectory() + "guardian-home-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        var config = ""
        for i in 0..<padding { config += "[url \"/nonexistent/mirror-\(i)/\"]\n\tinsteadOf = https://unrelated-\(i).example.invalid/\n" }
        config += "[url \"\(repo)\"]\n\tinsteadOf = \(url)\n"
        try config.write(toFile: home + "/.gitconfig", atomically: true, encoding: .utf8)
        return home
    }

    static func inode(_ path: String) throws -> UInt64 {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64)
    }

    /// A remote URL that `insteadOf` sends to a local repository: registered and audited as that
    /// repository, its objects hard-linked into the mirror, origin kept as registered; later
    /// fetches bring new branches and HEAD follows origin's default branch.
    @Test func aURLThatInsteadOfSendsToALocalRepositoryIsMirroredByLinks() async throws {
        let repo = try FixtureRepo()
        try repo.write("README.md", "# Demo\n")
        try repo.write("Sources/App/main.swift", "print(\"hello\")\n")
        // a tracked folder named like an object database: files of the working tree, never objects
        let planted = "pack-" + String(repeating: "ab", count: 20)
        try repo.write("objects/pack/\(planted).pack", "PACK not really\n")
        try repo.write("objects/pack/\(planted).idx", "not an index\n")
        let first = try repo.commit("feat: first")
        let home = try Self.home(pointing: Self.url, at: repo.path)
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start(env: ["HOME": home])
        defer { agent.stop() }
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": Self.url, "name": "demo"])
        #expect(r.status == 201, "\(r.text)")
        let id = try #require(r.json["id"] as? String)
        let status = try await agent.waitForResult(project: id)
        #expect(status["commit"] as? String == first)

        let mirror = agent.dataDir + "/mirrors/" + id + ".git"
        let origin = try await CommandRunner.runAsync("/usr/bin/git", ["-C", mirror, "config", "remote.origin.url"])
        #expect(origin.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == Self.url)
        // a loose object of the fixture is the same file in the mirror (a hard link, not a copy)
        let objects = repo.path + "/.git/objects"
        let loose = try #require(FileManager.default.subpathsOfDirectory(atPath: objects).first { $0.count == 41 && $0.dropFirst(2).first == "/" })
        #expect(try Self.inode(objects + "/" + loose) == (try Self.inode(mirror + "/objects/" + loose)))
        #expect(!FileManager.default.fileExists(atPath: mirror + "/objects/pack/\(planted).pack"))
        #expect(!FileManager.default.fileExists(atPath: mirror + "/objects/pack/\(planted).idx"))

        // a new branch, then a new default branch: the next fetch mirrors both
        _ = try repo.git("checkout", "-q", "-b", "trunk")
        try repo.write("Sources/App/more.swift", "let x = 1\n")
        let second = try repo.commit("feat: more")
        let t = try await agent.request("POST", "/v1/projects/\(id)/audits")
        let done = try await agent.waitForTask(try #require(t.json["taskId"] as? String))
        #expect(done["state"] as? String == "succeeded", "\(done)")
        let heads = try await CommandRunner.runAsync("/usr/bin/git", ["-C", mirror, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"]).stdout
        #expect(heads.contains("refs/heads/trunk \(second)"), "\(heads)")
        #expect(try await CommandRunner.runAsync("/usr/bin/git", ["-C", mirror, "symbolic-ref", "HEAD"]).stdout.contains("refs/heads/trunk"))
    }

    /// libgit2 1.5 leaks a PCRE2 match block (about 10 KB) per configuration entry whenever it
    /// applies insteadOf itself or looks a remote up by name (libgit2#6382). With 200 rules that
    /// match nothing, twenty audits held 100+ MB more heap; Guardian applies the rules itself.
    @Test func fetchesDoNotGrowTheHeapWithTheGitConfiguration() async throws {
        let repo = try FixtureRepo()
        try repo.write("README.md", "# Demo\n")
        try repo.write("Sources/App/main.swift", "print(\"hello\")\n")
        _ = try repo.commit("feat: first")
        for tag in 0..<5 { _ = try repo.git("tag", "v\(tag)") } // a fetch looks its remote up once per ref
        let home = try Self.home(pointing: Self.url, at: repo.path, padding: 200)
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start(env: ["HOME": home])
        defer { agent.stop() }
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": Self.url, "name": "demo"])
        let id = try #require(r.json["id"] as? String, "\(r.text)")
        _ = try await agent.waitForResult(project: id)
        func audit() async throws {
            let t = try await agent.request("POST", "/v1/projects/\(id)/audits")
            let done = try await agent.waitForTask(try #require(t.json["taskId"] as? String))
            #expect(done["state"] as? String == "succeeded", "\(done)")
        }
        for _ in 0..<3 { try await audit() } // caches and pools reach their working size
        let before = try await agent.requireMetric("guardian_heap_bytes", labels: "state=\"in_use\"")
        for _ in 0..<20 { try await audit() }
        let after = try await agent.requireMetric("guardian_heap_bytes", labels: "state=\"in_use\"")
        #expect(after - before < 8_000_000, "the heap grew by \(Int(after - before)) bytes over 20 fetches")
    }
}
