import Foundation
import GuardianNode

/// The agent a CLI on the same machine talks to, when no flag says: `GUARDIAN_DATA_DIR` (and the
/// `agent.json` the agent wrote there), else the pointer the user's last agent left in
/// `~/.local/state/guardian/agent.json` (while that agent runs), else the default data directory.
enum LocalAgent {
    struct Found {
        var dataDir: String
        /// The HTTP address the agent wrote, when it wrote one.
        var httpAddr: String?
        /// The CA file the agent verifies members with (its `tls_ca`), for an HTTPS agent.
        var ca: String?
    }

    static func find(dataDir flag: String?, environment env: [String: String] = ProcessInfo.processInfo.environment) -> Found {
        if let dir = flag ?? env["GUARDIAN_DATA_DIR"].flatMap({ $0.isEmpty ? nil : $0 }) {
            let p = AgentPointer.read((dir as NSString).appendingPathComponent("agent.json"))
            return Found(dataDir: dir, httpAddr: p?.localAddress, ca: p?.ca)
        }
        if let file = AgentPointer.userFile(environment: env), let p = AgentPointer.read(file) {
            return Found(dataDir: p.dataDir, httpAddr: p.localAddress, ca: p.ca)
        }
        let dir = DataDirectory.defaultPath
        let p = AgentPointer.read((dir as NSString).appendingPathComponent("agent.json"))
        return Found(dataDir: dir, httpAddr: p?.localAddress, ca: p?.ca)
    }
}
