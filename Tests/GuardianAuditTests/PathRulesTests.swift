import GuardianCore
import Testing
@testable import GuardianAudit

/// Path classification on bytes answers as the string versions did, edge cases included.
@Suite struct PathRulesTests {
    @Test func samplesAndWhatIsOutsideTheAPI() {
        for (path, sample) in [("docs/x.swift", true), ("x/docs", false), ("Examples/A/b.swift", true), ("MyExample/x.swift", true),
                               ("a//examples//x", true), ("Fixtures Folder/x", false), ("", false), ("/", false), ("Sources/NIOCore/x.swift", false)] {
            #expect(PathRules.isSampleOrExample(path) == sample, "\(path)")
        }
        for (path, outside) in [("Package.swift", true), ("Package@swift-5.9.swift", true), ("Sources/Benchmarks/x.swift", true),
                                ("Plugins/FooPlugin/main.swift", true), ("Sources/NIOCore/x.swift", false), ("", false), ("scripts", false)] {
            #expect(PathRules.isOutsideAPI(path) == outside, "\(path)")
        }
        #expect(PathRules.isManifest("sub dir/SETUP.PY"))
        #expect(!PathRules.isManifest("setup.py/x"))
    }

    @Test func vendoredGeneratedAndModules() {
        #expect(PathRules.vendoredOrGenerated("Vendor/x.c") == "vendored (vendor)")
        #expect(PathRules.vendoredOrGenerated("a/node_modules/b.js") == "vendored (node_modules)")
        #expect(PathRules.vendoredOrGenerated("Sources/X/Y.pb.swift") == "generated (.pb.swift)")
        #expect(PathRules.vendoredOrGenerated("src/vendored.swift") == nil)
        for (path, module) in [("Sources/NIOCore/A/b.swift", "NIOCore"), ("src/main.py", "main"), ("lib/foo.rb", "lib"),
                               ("README.md", "README"), ("Sources/Ünïcode Mod/x/y.swift", "Ünïcode Mod")] {
            #expect(PathRules.module(of: path) == module, "\(path)")
        }
    }

    @Test func targetsAndIgnorableFiles() {
        for (path, target) in [("Sources/X/y.swift", "Sources/X/"), ("Sources//x", "Sources//"), ("a/b/c.swift", "a/b/"),
                               ("main.swift", "/"), ("Sources/x", "Sources/"), ("Sources/A B/c d.swift", "Sources/A B/")] {
            #expect(Checks.target(of: path) == target, "\(path)")
        }
        #expect(Checks.ignorable(path: ".env")?.1 == .high)
        #expect(Checks.ignorable(path: "config/.env.local")?.1 == .high)
        #expect(Checks.ignorable(path: ".env.example") == nil)
        #expect(Checks.ignorable(path: "a/node_modules/x.js")?.1 == .medium)
        #expect(Checks.ignorable(path: "x/.DS_Store")?.1 == .low)
        #expect(Checks.ignorable(path: "build/x.o")?.1 == .low)
        #expect(Checks.ignorable(path: "src/x.swift") == nil)
        #expect(Checks.isLibraryModule("Sources/CNIOLinux/shim.c", executables: []) == false)
        #expect(Checks.isLibraryModule("Sources/CNIOLinux/include/shim.H", executables: []) == false)
        #expect(Checks.isLibraryModule("Sources/NIOCore/x.swift", executables: []))
        #expect(Checks.isLibraryModule("Sources/Tool/main.swift", executables: ["Sources/Tool/"]) == false)
    }
}
