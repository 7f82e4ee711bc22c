import Foundation
import GuardianCore
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Logging
import ServiceLifecycle
import Testing

/// The audit service owns the audits the queue starts: none runs without it, and a graceful
/// shutdown returns only once the running ones are stored.
@Suite struct AuditServiceTests {
    static func repo() throws -> FixtureRepo {
        let repo = try FixtureRepo()
        try repo.write("README.md", "# Demo\n")
        try repo.write("Sources/main.swift", "func add(_ a: Int, _ b: Int) -> Int { a + b }\n")
        try repo.commit("feat: demo")
        return repo
    }

    @Test func startedAuditsRunOnlyInTheServiceAndShutdownWaitsForThem() async throws {
        let node = try TestNode.make("audits", localRoots: [AgentProcess.fixtureRoot], clock: { 1_000 })
        let repo = try Self.repo()
        let project = try await node.register(ProjectInput(repositoryUrl: repo.path, scheduleSeconds: 0), admin: true)
        // registration queued and started an audit, but nothing runs it without the service
        let task = try #require(node.currentTask(project: project.id))
        #expect(task.state == .running && task.startedAt == 1_000)
        try await holds("no audit runs without the service", for: 0.5) { await node.task(task.id)?.state == .running }

        let group = ServiceGroup(configuration: .init(services: [.init(service: AuditService(node: node))], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        try await eventually("the audit finished", timeout: 60) { await node.task(task.id)?.state == .succeeded }
        let done = try #require(await node.task(task.id))
        #expect(done.finishedAt == 1_000 && done.resultId != nil)
        #expect(try node.store.latestResultSummary(project: project.id)?.id == done.resultId)

        // a second audit started, then a graceful shutdown: the service returns once it is stored
        // (enough files that the audit is still running when the shutdown comes)
        for i in 0..<1500 { try repo.write("Sources/Gen/f\(i).swift", "func f\(i)(_ x: Int) -> Int { x > \(i) ? x : \(i) }\n") }
        let sha = try repo.commit("feat: more")
        let second = try await node.enqueue(project: project.id, reason: .manual, revision: sha)
        try await eventually("the second audit is running in the service", timeout: 30, every: .milliseconds(10)) {
            let t = await node.task(second.id)
            return t?.state != .running || t?.phase != "starting"
        }
        try #require(await node.task(second.id)?.state == .running, "the audit finished before the shutdown: nothing would be tested")
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(await node.task(second.id)?.state == .succeeded, "the shutdown returned before the running audit was stored")
    }
}
