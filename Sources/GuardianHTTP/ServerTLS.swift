import Foundation
import GuardianCore
import GuardianNode
import Hummingbird
import HummingbirdTLS
import Metrics
import NIOCore
import NIOSSL
import Synchronization

/// HTTPS for the API: the certificate chain and key of `tls_cert` and `tls_key`, read at start and
/// again on SIGHUP. Every handshake takes the pair loaded last (NIOSSL's per-hello context
/// callback), so a renewed certificate serves new connections without a restart; a reload that
/// fails keeps the pair in use.
public final class ServerTLS: Sendable {
    struct Pair: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var notAfter: Double
    }

    let certFile: String
    let keyFile: String
    private let pair: Mutex<Pair>

    public init(certFile: String, keyFile: String) throws {
        self.certFile = certFile
        self.keyFile = keyFile
        let p = try Self.load(certFile: certFile, keyFile: keyFile)
        pair = Mutex(p)
        Self.record(p)
    }

    public convenience init?(_ config: AgentConfig) throws {
        guard let cert = config.tlsCert, let key = config.tlsKey else { return nil }
        try self.init(certFile: cert, keyFile: key)
    }

    /// Reads the files again; true when they were loaded, and a message naming what is wrong otherwise.
    @discardableResult
    public func reload() throws -> Double {
        let p = try Self.load(certFile: certFile, keyFile: keyFile)
        pair.withLock { $0 = p }
        Self.record(p)
        return p.notAfter
    }

    /// The certificate in use expires at this time (seconds since 1970).
    public var notAfter: Double { pair.withLock { $0.notAfter } }

    static func load(certFile: String, keyFile: String) throws -> Pair {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certFile) } catch {
            throw GuardianError.usage("tls_cert: cannot read a PEM certificate chain from \(certFile) (\(error))")
        }
        guard let leaf = chain.first else { throw GuardianError.usage("tls_cert: \(certFile) holds no certificate") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: keyFile, format: .pem) } catch {
            throw GuardianError.usage("tls_key: cannot read a PEM private key from \(keyFile) (\(error))")
        }
        // the pair must match: a context made from them refuses a key of another certificate
        var check = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        check.minimumTLSVersion = .tlsv12
        do { _ = try NIOSSLContext(configuration: check) } catch {
            throw GuardianError.usage("tls_cert and tls_key do not belong together (\(error))")
        }
        return Pair(chain: chain, key: key, notAfter: Double(leaf.notValidAfter))
    }

    static func record(_ p: Pair) {
        Gauge(label: "guardian_tls_certificate_expiry_timestamp_seconds").record(p.notAfter)
    }

    /// The server's TLS configuration: TLS 1.2 and later, HTTP/1.1, and the pair loaded last on
    /// every handshake.
    func configuration() -> TLSConfiguration {
        let current = pair.withLock { $0 }
        var c = TLSConfiguration.makeServerConfiguration(certificateChain: current.chain.map { .certificate($0) },
                                                         privateKey: .privateKey(current.key))
        c.minimumTLSVersion = .tlsv12
        c.applicationProtocols = ["http/1.1"]
        c.sslContextCallback = { [self] _, promise in
            let p = pair.withLock { $0 }
            var o = NIOSSLContextConfigurationOverride()
            o.certificateChain = p.chain.map { .certificate($0) }
            o.privateKey = .privateKey(p.key)
            promise.succeed(o)
        }
        return c
    }
}

/// How members reach each other's API: over HTTPS when this node serves HTTPS (every member of a
/// mesh does the same), verifying the member's certificate against `tls_ca`, or the system's
/// roots without it. Set once, before the first request to a member.
public enum PeerTransport {
    struct Settings: Sendable {
        var scheme = "http"
        var tls: TLSConfiguration?
    }

    static let settings = Mutex(Settings())

    public static func configure(_ config: AgentConfig) {
        guard config.tlsCert != nil else { return }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let ca = config.tlsCA { tls.trustRoots = .file(ca) }
        settings.withLock { $0 = Settings(scheme: "https", tls: tls) }
    }

    static var scheme: String { settings.withLock { $0.scheme } }
    static var tls: TLSConfiguration? { settings.withLock { $0.tls } }
}
