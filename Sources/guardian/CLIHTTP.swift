import AsyncHTTPClient
import Foundation
import GuardianCore
import NIOCore
import NIOSSL
import Synchronization

/// The CLI's HTTP client: AsyncHTTPClient with the system's roots, or, with a CA file (`--ca`),
/// one that verifies the agent's certificate against it. Either lives until the process exits: the clients
/// made here are kept in `made`, since AsyncHTTPClient stops the process when a client it did not
/// shut down is released.
enum CLIHTTP {
    static let made = Mutex<[String: HTTPClient]>([:])

    /// One configuration with or without a CA: no redirect is followed (it would carry the token
    /// elsewhere) and nothing is decompressed.
    static func client(ca: String?) throws -> HTTPClient {
        if let c = made.withLock({ $0[ca ?? ""] }) { return c }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca { tls.trustRoots = .file(ca) }
        var c = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        c.decompression = .disabled
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: c)
        made.withLock { $0[ca ?? ""] = client }
        return client
    }

    /// A failed call, said for a person: a certificate the CLI cannot verify is named as such.
    static func unreachable(_ base: String, _ error: any Error) -> GuardianError {
        let text = "\(error)"
        if text.contains("certificate") || text.contains("handshake") || error is NIOSSLError {
            return GuardianError.io("cannot verify the agent's certificate at \(base) (\(text)); pass --ca with the CA that signed it")
        }
        return GuardianError.io("cannot reach the agent at \(base): \(text) (is `guardian agent` running?)")
    }
}
