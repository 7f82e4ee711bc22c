import ArgumentParser
import Foundation
import GuardianCore
import GuardianNode

/// `guardian backup`: a consistent copy of a node, taken while it runs.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the node's store and keys into one file while the node runs.",
        discussion: """
            The store is copied with SQLite's online backup API in one step: the copy holds every result committed before it \
            began. The node's identity, secret key, cluster keyring and admin token go in the same file, so keep it as you keep \
            identity.key (it is written with mode 0600). Mirrors and the analysis cache are not included; a restored node fetches \
            them again. Restore with guardian restore FILE.
            """)
    @Option(help: "The backup file to write (must not exist).") var output: String
    @Option(help: "The agent's data directory (default $GUARDIAN_DATA_DIR, else the last agent you started, else \(DataDirectory.defaultPath)).")
    var dataDir: String?

    func run() throws {
        let dir = try DataDirectory(path: LocalAgent.find(dataDir: dataDir).dataDir, create: false)
        let s = try NodeBackup.take(dataDir: dir, output: output)
        print("backup written to \(output): \(s.results) results, \(s.projects) projects, \(s.files.count) files, \(s.bytes) bytes")
    }
}

/// `guardian restore`: a backup into an empty data directory.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into an empty data directory, then start the agent on it.",
        discussion: """
            Every result in the backup is verified (its id and its signature) before anything is written; the data directory \
            must be empty or absent. Then start guardian agent with --data-dir on it: the node has its former identity and \
            results, and fetches its mirrors again. In a mesh, anti-entropy brings it the results it missed since the backup.
            """)
    @Argument(help: "The backup file (guardian backup --output).") var file: String
    @Option(help: "The data directory to restore into (default $GUARDIAN_DATA_DIR, else \(DataDirectory.defaultPath)).")
    var dataDir: String?

    func run() throws {
        let dir = dataDir ?? DataDirectory.defaultPath
        let r = try NodeBackup.restore(file: file, into: dir)
        print("restored node \(r.nodeID) into \(dir): \(r.results) results verified, \(r.projects) projects")
        print("start it: guardian agent --data-dir \(dir)")
    }
}
