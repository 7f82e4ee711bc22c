import Foundation
import GuardianCore

extension Checks {
    // MARK: tdd

    /// Code that makes a module a team would test: not examples, demos, benchmarks, scripts, tools,
    /// manifests, CI or docs; not an executable target (a tool's `main`); not a C shim target.
    static func isLibraryModule(_ path: String, executables: Set<String>) -> Bool {
        let p = LowerPath(path)
        let lower = p.lower[...]
        if PathRules.isOutsideAPI(p) || lower.hasPrefix(".github/") || lower.hasPrefix("docs/") || lower.hasPrefix("doc/") { return false }
        if executables.contains(target(of: path)) { return false }
        // C files of a SwiftPM C target (`Sources/CNIOLinux/shim.c`): a shim tested through its users
        let parts = p.components
        guard parts.count >= 3, p.original[parts[0]].elementsEqual("Sources".utf8),
              BundledLibraries.isCTargetName(Substring(p.text(parts[1]))) else { return true }
        let ext = p.name.split(separator: 46).last.map { String(decoding: $0, as: UTF8.self) } ?? ""
        return !BundledLibraries.cFamily.contains(ext)
    }

    static func tdd(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "tdd/", &out)
        let sources = ctx.sourceFiles, tests = ctx.testFiles
        if !sources.isEmpty && tests.isEmpty {
            out.add("tdd/no-tests", "the repository has \(sources.count) source files and no test files", key: "no-tests")
        } else if !sources.isEmpty {
            // module pairing
            let testKeys = tests.map { PathRules.matchKey($0.path) }
            var imported = Set(tests.flatMap(\.facts.imports).map(PathRules.matchKey))
            let sourceModules = sources.map { PathRules.module(of: $0.path) }
            // a module re-exported by a tested module is tested through it
            for (f, module) in zip(sources, sourceModules) where imported.contains(PathRules.matchKey(module)) {
                imported.formUnion(f.facts.imports.map(PathRules.matchKey))
            }
            let executables = executableTargets(ctx)
            var modules: [String: Int] = [:]
            for (f, module) in zip(sources, sourceModules) where isLibraryModule(f.path, executables: executables) {
                modules[module, default: 0] += Int(f.facts.codeLines)
            }
            // under 100 code lines a module is a shim or a compatibility re-export, tested through its users
            for (module, lines) in modules.sorted(by: { $0.key < $1.key }) where lines >= 100 {
                let key = PathRules.matchKey(module)
                // a package whose one target is the source root itself (`path: "Sources"`) is paired by any test
                guard !key.isEmpty, !["sources", "source", "src", "lib"].contains(key) else { continue }
                if !testKeys.contains(where: { $0.has(key) }) && !imported.contains(key) {
                    out.add("tdd/untested-module", "module '\(module)' (\(lines) code lines) has no paired tests",
                            key: "module:" + module)
                }
            }
            let srcLines = sources.reduce(0) { $0 + Int($1.facts.codeLines) }
            let testLines = tests.reduce(0) { $0 + Int($1.facts.codeLines) }
            let ratio = srcLines > 0 ? Double(testLines) / Double(srcLines) : 1
            if ratio < ctx.thresholds.minTestRatio {
                out.add("tdd/low-test-ratio", ratio < ctx.thresholds.minTestRatio / 2 ? .high : .medium,
                        "test-to-source ratio \(FixedPoint.format(ratio, digits: 2)) is below \(FixedPoint.format(ctx.thresholds.minTestRatio, digits: 2)) "
                            + "(\(testLines) test lines, \(srcLines) source lines)", key: "ratio")
            }
        }
        // coverage reports
        let reports = ctx.files.filter { $0.facts.coverableLines > 0 }
        let coverable = reports.reduce(0) { $0 + Int($1.facts.coverableLines) }
        if coverable > 0 {
            let covered = reports.reduce(0) { $0 + Int($1.facts.coveredLines) }
            let share = Double(covered) / Double(coverable)
            if share < ctx.thresholds.minCoverage {
                out.add("tdd/low-coverage", file: reports[0].path,
                        "line coverage \(FixedPoint.format(share * 100, digits: 1))% is below \(FixedPoint.format(ctx.thresholds.minCoverage * 100, digits: 0))%",
                        key: "coverage")
            }
        }
        // recent commits that change source but no test
        if ctx.isGit {
            // pull requests as reviewed (a merge's whole change), not the commits on their branches;
            // not automation's dependency bumps
            let recent = ctx.reviewUnits.filter { !AuditContext.isBot($0) }.prefix(100)
            var touching = 0, untested = 0
            var memo: [String: (code: Bool, test: Bool)] = [:]
            func kind(_ p: String) -> (code: Bool, test: Bool) {
                if let k = memo[p] { return k }
                // a build manifest (Package.swift, setup.py) is configuration, not source to test
                let k = (Language.detect(path: p).isCode && !PathRules.isManifest(p), PathRules.isTest(p))
                memo[p] = k
                return k
            }
            for c in recent {
                let kinds = c.files.map(kind)
                guard kinds.contains(where: { $0.code && !$0.test }) else { continue }
                touching += 1
                if !kinds.contains(where: { $0.test }) { untested += 1 }
            }
            if touching >= 10 {
                let share = Double(untested) / Double(touching)
                if share > ctx.thresholds.maxUntestedCommitShare {
                    out.add("tdd/untested-changes",
                            "\(untested) of the last \(touching) commits that change source change no test (\(FixedPoint.format(share * 100, digits: 0))%)", key: "untested-changes")
                }
            }
        }
    }
}
