// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// `make release` (GUARDIAN_STATIC_LIBGIT2=1) links libgit2 from its static archive, with the
/// archives of what it uses (Debian's libgit2-dev depends on their -dev packages); only GSSAPI
/// stays shared (Debian ships no archive of it). Of the 24 shared objects the binary loaded at start,
/// 8 go (libgit2 and what only it used): their loading and symbol binding cost every `guardian
/// audit` 3-4 ms before `main`. Any other build
/// (the tests, a package that depends on GuardianAudit, macOS) links the shared library found
/// through pkg-config, and carries no unsafe flags.
let staticLibgit2 = Context.environment["GUARDIAN_STATIC_LIBGIT2"] == "1"
let libgit2: [LinkerSetting] = staticLibgit2
    ? [.unsafeFlags(["libgit2.a", "libmbedtls.a", "libmbedx509.a", "libmbedcrypto.a", "libhttp_parser.a", "libssh2.a",
                     "libpcre2-8.a", "libcrypto.a", "libgssapi_krb5.so.2", "libz.so"].flatMap { ["-Xlinker", "-l:" + $0] })]
    : [.linkedLibrary("git2")]

let package = Package(
    name: "Guardian",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "guardian", targets: ["guardian"]),
        .executable(name: "guardian-bench", targets: ["guardian-bench"]),
        .library(name: "GuardianAudit", targets: ["GuardianAudit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // the dashboard: templates apart from the code, and gzip for pages and assets
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // alert email: STARTTLS on the SMTP connection (already built for async-http-client)
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        // libgit2: linked by GuardianAudit, see `libgit2` above
        .systemLibrary(name: "CGit2", pkgConfig: staticLibgit2 ? nil : "libgit2",
                       providers: [.apt(["libgit2-dev"])]),
        // glibc's allocator: its statistics, trimming and arena limit (header only; nothing to link)
        .systemLibrary(name: "CHeap", path: "Sources/CHeap"),
        // SQLite's variadic configuration call (header only; GRDB links libsqlite3)
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        // The one JSON module: the fast reader (`JSONValue`, `JSONValue.Reader`) and the canonical writer.
        .target(name: "GuardianJSON", swiftSettings: strict),
        .target(name: "GuardianCore", dependencies: ["GuardianJSON"], swiftSettings: strict),
        .target(name: "GuardianCrypto", dependencies: ["CSodium", "GuardianCore", "GuardianJSON"], swiftSettings: strict),
        // The mesh's pure core: membership, ring, registry and replication sessions. No I/O; time and randomness are parameters.
        .target(name: "GuardianMesh", swiftSettings: strict),
        // Seeded simulators that drive the mesh's shipped state machines (tests and benchmarks only).
        .target(name: "GuardianSimulation", dependencies: ["GuardianMesh"], swiftSettings: strict),
        .target(
            name: "GuardianAudit",
            dependencies: [
                "GuardianCore", "GuardianCrypto", "GuardianJSON", "CGit2", "CSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                // .guardian.yml, the repository's own configuration
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict,
            linkerSettings: libgit2),
        // The node's SQLite store (GRDB): results, findings, the replicated registry, hints, dismissals.
        .target(
            name: "GuardianStore",
            dependencies: [
                "GuardianAudit", "GuardianCore", "GuardianCrypto", "GuardianMesh",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .target(
            name: "GuardianNode",
            dependencies: [
                "GuardianAudit", "GuardianCore", "GuardianCrypto", "GuardianMesh", "GuardianStore", "CHeap",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                // stream framing's writer (LengthFieldPrepender)
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        // The HTTP API: one RouteCollection per resource, auth and error middleware, Codable models,
        // forwarding to owners. Above the node's domain, which knows nothing of HTTP.
        .target(
            name: "GuardianHTTP",
            dependencies: [
                "GuardianAudit", "GuardianCore", "GuardianCrypto", "GuardianMesh", "GuardianNode", "GuardianStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                // HTTPS for the API when tls_cert is set (swift-nio-ssl is built already, for SMTP and the client)
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // the dashboard's templates and assets, compiled into the binary: nothing is read from disk or fetched
            resources: [.embedInCode("Dashboard/Templates/head.mustache"), .embedInCode("Dashboard/Templates/foot.mustache"), .embedInCode("Dashboard/Templates/login.mustache"), .embedInCode("Dashboard/Templates/checkcells.mustache"), .embedInCode("Dashboard/Templates/fleet.mustache"), .embedInCode("Dashboard/Templates/fleetrow.mustache"), .embedInCode("Dashboard/Templates/project.mustache"), .embedInCode("Dashboard/Templates/team.mustache"), .embedInCode("Dashboard/Templates/mesh.mustache"), .embedInCode("Dashboard/Templates/error.mustache"),
                        .embedInCode("Dashboard/Assets/style.css"), .embedInCode("Dashboard/Assets/live.js"), .embedInCode("Dashboard/Assets/icon.svg")],
            swiftSettings: strict),
        // The agent: the node, its mesh services and the HTTP server as one ServiceGroup.
        .target(
            name: "GuardianAgent",
            dependencies: [
                "GuardianHTTP", "GuardianJSON", "GuardianNode", "GuardianStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // Seeded fuzzing of every decoder of outside bytes: run briefly by the tests, at length by `guardian-bench fuzz`.
        .target(name: "GuardianFuzz", dependencies: ["GuardianAudit", "GuardianCore", "GuardianCrypto", "GuardianHTTP", "GuardianMesh", "GuardianNode", "GuardianStore"],
                swiftSettings: strict),
        .executableTarget(
            name: "guardian",
            dependencies: [
                "GuardianAgent", "GuardianAudit", "GuardianCore", "GuardianCrypto", "GuardianHTTP", "GuardianNode", "GuardianStore", "GuardianMesh",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // the API client (HTTPS with --ca)
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict,
            // `-static-stdlib` exports every symbol of the binary to the dynamic linker (46,000 of
            // them), which then binds the shared libraries' symbols through that table on every
            // start: a few milliseconds of each `guardian audit`. Nothing looks the binary's own
            // symbols up at run time (crash backtraces read the file's symbol table).
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux]))]),
        // The benchmarks, apart from the shipped binary: `guardian` links neither the test kit nor the simulators.
        .executableTarget(
            name: "guardian-bench",
            dependencies: [
                "GuardianAudit", "GuardianCore", "GuardianCrypto", "GuardianNode", "GuardianStore", "GuardianMesh", "GuardianSimulation", "GuardianFuzz",
                // `shards` starts real agents with the test kit's process handle (Foundation only)
                "GuardianTestKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(name: "GuardianTestKit", swiftSettings: strict),
        .testTarget(name: "GuardianCoreTests", dependencies: ["GuardianCore"], swiftSettings: strict),
        .testTarget(name: "GuardianJSONTests", dependencies: ["GuardianJSON"], swiftSettings: strict),
        .testTarget(name: "GuardianAuditTests",
                    dependencies: ["GuardianAudit", "GuardianCore", "GuardianCrypto", "GuardianJSON", "GuardianMesh", "GuardianTestKit"],
                    swiftSettings: strict),
        .testTarget(name: "GuardianCLITests", dependencies: ["GuardianCore", "GuardianTestKit"], swiftSettings: strict),
        .testTarget(name: "GuardianCryptoTests", dependencies: ["GuardianCrypto"], swiftSettings: strict),
        .testTarget(name: "GuardianMeshTests", dependencies: ["GuardianMesh", "GuardianSimulation", "GuardianCrypto"], swiftSettings: strict),
        .testTarget(name: "GuardianFuzzTests", dependencies: ["GuardianFuzz"], swiftSettings: strict),
        .testTarget(name: "GuardianNodeTests",
                    dependencies: ["GuardianNode", "GuardianHTTP", "GuardianStore", "GuardianAudit", "GuardianCrypto", "GuardianCore", "GuardianJSON", "GuardianTestKit", "GuardianMesh", "GuardianFuzz",
                                   .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Yams", package: "Yams"),
                                   .product(name: "Hummingbird", package: "hummingbird"),
                                   .product(name: "HummingbirdTesting", package: "hummingbird"),
                                   .product(name: "Mustache", package: "swift-mustache")],
                    swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
