import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianNode
import GuardianStore

extension ReportFormat: ExpressibleByArgument {}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audit a repository with the eight checks (no agent needed).",
        discussion: """
            PATH is a git repository (working directory or bare; the committed tree at --rev is read), \
            a plain directory (history rules are skipped), or a URL (cloned bare into the cache first).
            Exit codes: 0 the gate passed, 1 the gate failed, 2 usage or runtime error.
            """)

    @Argument(help: "Repository path or URL (default: current directory).")
    var target: String = "."

    @Option(help: "Revision to audit (default HEAD).")
    var rev: String?

    @Option(help: "Output format: text, json, sarif, or codequality (GitLab's Code Quality report).")
    var format: ReportFormat = .text

    @Option(name: [.short, .long], help: "Write the report to FILE instead of standard output.")
    var output: String?

    @Option(help: "Report only findings whose fingerprints are new since REV; the gate then fails on new findings at or above the profile's gate severity.")
    var baseline: String?

    @Option(help: "Team profile: startup, enterprise, open-source, default, or a JSON file.")
    var profile: String = "default"

    @Option(help: "Comma-separated checks to run (integrity,tdd,flow,sages,git,servant,strict,predictive).")
    var checks: String?

    @Option(help: "Worker threads (default: number of cores).")
    var jobs: Int?

    @Option(help: "Cache directory (default $XDG_CACHE_HOME/guardian or ~/.cache/guardian).")
    var cacheDir: String?

    @Flag(help: "Do not read or write the analysis cache.")
    var noCache = false

    @Option(help: "Commits of history to read at most.")
    var maxHistory: Int = 1000

    @Flag(help: "Zero all timing fields so that reports are byte-identical.")
    var reproducible = false

    @Option(help: "Also write a signed result to FILE: a DSSE envelope over an in-toto statement of the reproducible report, signed with this node's identity.")
    var attest: String?

    @Option(help: "Trigger the audit of PROJECT on the running agent and follow it (instead of auditing locally).")
    var remote: String?

    @OptionGroup var agent: AgentOptions

    func validate() throws {
        if let j = jobs, j < 1 || j > 256 { throw ValidationError("--jobs must be between 1 and 256") }
        if maxHistory < 0 { throw ValidationError("--max-history must not be negative") }
    }

    func run() async throws {
        if let remote {
            if try await !RemoteAudit.run(project: remote, agent: agent, rev: rev) { throw ExitCode(1) }
            return
        }
        Trace.mark("command parsed")
        var options = AuditOptions(target: target)
        options.revision = rev
        options.profile = try TeamProfile.load(profile)
        if let c = checks { options.checks = try Check.parseList(c) }
        if let j = jobs { options.jobs = j }
        options.cacheDirectory = noCache ? nil : (cacheDir ?? AuditOptions.defaultCacheDirectory)
        options.keepsFactsInMemory = false
        options.baseline = baseline
        options.maxHistory = maxHistory
        options.reproducible = reproducible
        let report = try Auditor.run(options)
        Trace.mark("report")
        let data = try ReportRenderer.render(report, as: format)
        Trace.mark("rendered")
        if let output {
            try OutputFile.write(data, to: output)
        } else {
            FileHandle.standardOutput.write(data)
        }
        Trace.mark("written")
        if let attest {
            let key = try NodeIdentity.loadOrCreate(try DataDirectory(path: agent.dataDir))
            let envelope = try Attestation.sign(report.withoutTiming(), key: key)
            try OutputFile.write(Data(envelope), to: attest)
            FileHandle.standardError.write(Data("signed result \(DSSE.recordID(envelope)) written to \(attest) by \(key.verifyingKey.nodeID)\n".utf8))
        }
        if !report.gate.passed { throw ExitCode(1) }
    }
}

/// Prints every function with its measurements as CSV (used by the lizard agreement benchmark).
struct FunctionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions", abstract: "List functions with complexity, length and parameters (CSV).",
        shouldDisplay: false)

    @Argument(help: "The repository to read (default: the current directory).") var target: String = "."
    @Option(help: "The revision to read (default: HEAD).") var rev: String?

    func run() throws {
        var options = AuditOptions(target: target)
        options.revision = rev
        options.cacheDirectory = nil
        let rows = try Auditor.functions(options)
        var out = "file,line,end,name,ccn,params,nesting\n"
        for r in rows { out += "\(r.file),\(r.line),\(r.end),\(r.name.replacingOccurrences(of: ",", with: ";")),\(r.ccn),\(r.params),\(r.nesting)\n" }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
