import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianNode
import GuardianStore

/// `guardian verify FILE`: checks a signed result (DSSE envelope over an in-toto statement).
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a signed audit result (DSSE envelope).",
        discussion: """
            Trusted keys: this node's identity and keys/*.pub in the data directory, plus every --key.
            Exit codes: 0 genuine, 1 tampered, forged or unknown signer (the reason on stderr), 2 usage error.
            """)

    @Argument(help: "The envelope file ('-' for standard input).")
    var file: String

    @Option(name: .customLong("key"), help: "A trusted Ed25519 public key (base64). Repeatable.")
    var keys: [String] = []

    @Option(help: "Data directory (default \(DataDirectory.defaultPath)).")
    var dataDir: String?

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    enum OutputFormat: String, ExpressibleByArgument { case text, json }

    func run() throws {
        let bytes: [UInt8]
        if file == "-" {
            bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        } else {
            guard let d = FileManager.default.contents(atPath: file) else { throw GuardianError.usage("cannot read \(file)") }
            bytes = [UInt8](d)
        }
        var trusted: [String: VerifyingKey] = [:]
        if let dir = try? DataDirectory(path: dataDir, create: false) { trusted = NodeIdentity.trustedKeys(dir) }
        for k in keys {
            do { let key = try VerifyingKey(base64: k); trusted[key.nodeID.value] = key } catch {
                throw GuardianError.usage("--key \(k): \(error)")
            }
        }
        do {
            let (statement, verified) = try Attestation.verify(bytes, trusted: trusted)
            let report = statement.predicate
            let id = DSSE.recordID(bytes)
            switch format {
            case .text:
                print("verified: record \(id)")
                print("signed by: \(verified.signers.joined(separator: ", "))")
                let commit = statement.subject.first?.digest["gitCommit"].map { " @ \($0)" } ?? ""
                print("subject:   \(statement.subject.first?.name ?? "?")\(commit)")
                print("health:    \(report.overallHealthScore)/100, gate \(report.gate.passed ? "passed" : "failed")")
            case .json:
                let out: [String: String] = ["status": "verified", "record": id, "signers": verified.signers.joined(separator: ","),
                                             "repository": statement.subject.first?.name ?? "",
                                             "commit": statement.subject.first?.digest["gitCommit"] ?? ""]
                FileHandle.standardOutput.write(try ReportRenderer.json(out))
            }
        } catch let e as CryptoError {
            FileHandle.standardError.write(Data("guardian: verification failed: \(e.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `guardian identity`: this node's id and public key (created on first use).
struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity", abstract: "Print this node's id and Ed25519 public key, creating them on first use.")

    @Option(help: "Data directory (default \(DataDirectory.defaultPath)).")
    var dataDir: String?

    func run() throws {
        let dir = try DataDirectory(path: dataDir)
        let key = try NodeIdentity.loadOrCreate(dir)
        print("node id:    \(key.verifyingKey.nodeID)")
        print("public key: \(key.verifyingKey.base64)")
        print("data dir:   \(dir.path)")
    }
}

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Print a new cluster key (standard base64 of 32 random bytes).",
        discussion: "Every node of a mesh is started with the same key (--cluster-key, GUARDIAN_CLUSTER_KEY or the config file); it seals every gossip datagram and push-pull stream (XChaCha20-Poly1305). See docs/mesh.md.")

    func run() throws { print(ClusterKeyring.generate()) }
}
