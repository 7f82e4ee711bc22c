import GuardianNode
import AsyncHTTPClient
import Foundation
import GuardianStore
import GuardianCrypto
import GuardianMesh
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import NIOHTTP1

/// Any node answers: a request about a project this node does not own is sent on to an owner
/// (primary first) and the owner's answer returned, marked `X-Guardian-Served-By`. This node
/// authenticates the caller; the forwarded request carries no token, only an `X-Guardian-Member`
/// header sealed with the cluster key: a `MemberClaim` naming the owner it is for, the method, path
/// and body hash, and the caller's principal. It opens once, on that owner alone. A request that a
/// member forwarded is always answered where it arrives: that is what prevents loops. `?local=1`
/// answers from this node alone.
extension API {
    static let memberHeader = HTTPField.Name("X-Guardian-Member")!
    static let servedByHeader = HTTPField.Name("X-Guardian-Served-By")!
    /// A result's id, project and time, sent with its exact bytes (read repair stores it from them).
    static let recordIDHeader = HTTPField.Name("X-Guardian-Record-Id")!
    static let projectHeader = HTTPField.Name("X-Guardian-Project")!
    static let createdAtHeader = HTTPField.Name("X-Guardian-Created-At")!
    /// Headers never passed on: the hop's own, and credentials, the caller's and a webhook's (the
    /// claim replaces them: it names the caller, or says the sending member verified the webhook).
    static let hopHeaders: Set<String> = ["host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade",
                                          "x-guardian-member", "x-guardian-served-by", "authorization", "cookie", "proxy-authorization",
                                          "x-gitlab-token", "x-hub-signature", "x-hub-signature-256"]

    /// How long a member has to answer a forwarded request, head and body, and the largest answer passed on.
    static let peerSeconds = 15
    static let peerAnswerLimit = 64 << 20

    /// The process's client for node-to-node HTTP, on the server's own event loops. It follows no
    /// redirect (a redirect would carry the sealed member header and the body to another host) and
    /// decompresses nothing; it lives as long as the process, so it is never shut down.
    static let peerClient = memberClient()

    /// A client for node-to-node HTTP, as described above; `connections`: its pool per host.
    static func memberClient(connections: Int? = nil) -> HTTPClient {
        var c = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                         timeout: .init(connect: .seconds(2), read: .seconds(Int64(peerSeconds))))
        c.decompression = .disabled
        if let tls = PeerTransport.tls { c.tlsConfiguration = tls }
        if let connections { c.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections) }
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: c)
    }

    /// The client of the dashboard's relayed event streams, apart from `peerClient`'s pool.
    static let relayClient = memberClient(connections: maxRelays)

    /// The most relayed event streams a node holds at once.
    static let maxRelays = 64

    /// True when the request must be answered here: no mesh, `?local=1`, or it was forwarded already.
    func answersLocally(_ request: Request, _ context: GuardianContext) -> Bool {
        mesh == nil || request.uri.queryParameters.get("local") == "1" || context.forwarded != nil
    }

    /// The owner's answer when this node does not own `project`; nil to answer here. `caller` is
    /// the principal this node authenticated.
    func forwardIfNotOwner(_ request: Request, _ context: GuardianContext, as caller: Principal, project: String) async throws -> Response? {
        guard !answersLocally(request, context), let mesh else { return nil }
        let owners = await node.owners(of: project)
        if owners.contains(node.config.name) { return nil }
        return try await forward(request, body: try await request.body.collect(upTo: node.config.maxBodyBytes), caller: .token(caller),
                                 to: owners, via: mesh)
    }

    /// A verified webhook for a project whose primary is another node goes to the primary, which
    /// records the repository events and audits; nil (handle it here) when this node is the primary
    /// or the primary does not answer.
    func forwardWebhookToPrimary(_ request: Request, _ context: GuardianContext, body: ByteBuffer, project: String) async -> Response? {
        guard !answersLocally(request, context), let mesh, let primary = await node.owners(of: project).first, primary != node.config.name else { return nil }
        return try? await forward(request, body: body, caller: .webhook(project: project), to: [primary], via: mesh)
    }

    /// The first answer of `owners`, in order.
    private func forward(_ request: Request, body: ByteBuffer, caller: MemberClaim.Caller, to owners: [String], via mesh: MeshShell) async throws -> Response {
        try await firstAnswer(of: owners, via: mesh, hint: "; ?local=1 answers from this node's own store") { owner, address in
            try await send(request, body: body, caller: caller, to: owner, at: address, via: mesh)
        }.response
    }

    /// The first of `owners` (in order) that answers `ask`; throws `owners_unreachable` with each failure.
    private func firstAnswer(of owners: [String], via mesh: MeshShell, hint: String = "",
                             _ ask: (_ owner: String, _ address: String) async throws -> PeerAnswer) async throws -> PeerAnswer {
        let addresses = await mesh.httpAddresses()
        var failures: [String] = []
        for owner in owners {
            guard let address = addresses[owner] else { failures.append("\(owner): not alive here"); continue }
            do { return try await ask(owner, address) } catch { failures.append("\(owner) at \(address): \(error)") }
        }
        throw APIError(.serviceUnavailable, "owners_unreachable", "no owner answered (\(failures.joined(separator: "; ")))\(hint)")
    }

    /// For ids that name no project (audit tasks, result records): the first other member that knows it.
    func askMembers(_ request: Request, _ context: GuardianContext, as caller: Principal) async -> PeerAnswer? {
        guard !answersLocally(request, context), let mesh else { return nil }
        for (name, address) in await mesh.httpAddresses().sorted(by: { $0.key < $1.key }) where name != node.config.name {
            if let r = try? await send(request, body: ByteBuffer(), caller: .token(caller), to: name, at: address, via: mesh),
               r.response.status != .notFound { return r }
        }
        return nil
    }

    /// A member's answer: the response to pass on, and its body and headers as received.
    struct PeerAnswer {
        var response: Response
        var body: ByteBuffer
        var headers: HTTPHeaders
    }

    /// Stored results whose bytes no longer hash to their ids are removed (a good copy comes back by
    /// read repair or anti-entropy) and counted.
    func removeCorrupt(_ ids: [String]) async throws {
        for id in ids { try node.store.deleteResult(id: id) }
        await replication?.noteCorrupt(ids)
    }

    /// Read repair: a result this node lacked, fetched from a member, is verified and stored here
    /// when this node owns its project.
    func readRepair(_ answer: PeerAnswer, id: String) async {
        guard let mesh, answer.response.status == .ok,
              let project = answer.headers.first(name: Self.projectHeader.rawName),
              let createdAt = answer.headers.first(name: Self.createdAtHeader.rawName).flatMap(Double.init),
              await node.owners(of: project).contains(node.config.name) else { return }
        let envelope = [UInt8](buffer: answer.body)
        guard DSSE.recordID(envelope) == id else { return }
        let (stored, _) = await node.storeReplicas([ResultSync.Record(project: project, createdAt: createdAt, envelope: envelope)],
                                                   signers: await mesh.signerKeys())
        if !stored.isEmpty { Metrics.Counter(label: "guardian_read_repairs_total").increment() }
    }

    /// One forwarded request over the process's peer client (the server's own event loops; no
    /// second networking stack).
    private func send(_ request: Request, body: ByteBuffer, caller: MemberClaim.Caller, to owner: String, at address: String,
                      via mesh: MeshShell) async throws -> PeerAnswer {
        // the caller's headers (content type, a webhook's delivery id and event), never its credentials nor the hop's
        let headers = request.headers.filter { !Self.hopHeaders.contains($0.name.canonicalName) }.map { ($0.name.rawName, $0.value) }
        return try await send(method: request.method.rawValue, path: request.uri.description, headers: headers, body: body, caller: caller,
                              to: owner, at: address, via: mesh)
    }

    /// A request this node makes of an owner for a caller it authenticated (the dashboard's reads
    /// and actions): the owners of `project` in order, the first answer returned.
    func askOwners(project: String, method: String, path: String, body: ByteBuffer = ByteBuffer(), contentType: String? = nil,
                   as caller: Principal) async throws -> PeerAnswer {
        guard let mesh else { throw APIError(.internalServerError, "no_mesh", "this node runs alone") }
        return try await firstAnswer(of: await node.owners(of: project), via: mesh) { owner, address in
            try await send(method: method, path: path, headers: contentType.map { [("Content-Type", $0)] } ?? [], body: body,
                           caller: .token(caller), to: owner, at: address, via: mesh)
        }
    }

    /// The primary's event stream for a caller (the dashboard's live view of a project this node
    /// does not own). Unlike a forwarded answer it has no deadline: it lasts as long as the reader.
    func ownerEvents(project: String, as caller: Principal, lastId: String?) async throws -> HTTPClientResponse {
        guard let mesh, let owner = await node.owners(of: project).first, let address = await mesh.httpAddresses()[owner] else {
            throw APIError(.serviceUnavailable, "owners_unreachable", "the project's primary is not alive here")
        }
        let out = await claimedRequest(method: "GET", path: "/v1/events", headers: lastId.flatMap { Int($0) != nil ? [("Last-Event-ID", $0)] : nil } ?? [],
                                       body: ByteBuffer(), caller: .token(caller), to: owner, at: address, via: mesh)
        // its own client: a long-lived stream must not hold one of the connections forwarded requests queue for
        let answer = try await Self.relayClient.execute(out, timeout: .hours(24 * 365))
        guard answer.status == .ok else { throw APIError(.badGateway, "owner_refused", "the primary answered \(answer.status.code)") }
        return answer
    }

    /// A request to `owner` carrying `headers`, `body` and the sealed claim that names the caller.
    private func claimedRequest(method: String, path: String, headers: [(String, String)], body: ByteBuffer, caller: MemberClaim.Caller,
                                to owner: String, at address: String, via mesh: MeshShell) async -> HTTPClientRequest {
        var out = HTTPClientRequest(url: "\(PeerTransport.scheme)://\(address)\(path)")
        out.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { out.headers.add(name: name, value: value) }
        let claim = MemberClaim(from: node.config.name, to: owner, method: method, path: path,
                                bodyHash: MemberClaim.hash(body: [UInt8](buffer: body)), caller: caller)
        out.headers.replaceOrAdd(name: Self.memberHeader.rawName, value: await mesh.sealClaim(claim))
        if body.readableBytes > 0 { out.body = .bytes(body) }
        return out
    }

    func send(method: String, path: String, headers: [(String, String)], body: ByteBuffer, caller: MemberClaim.Caller,
                      to owner: String, at address: String, via mesh: MeshShell) async throws -> PeerAnswer {
        let request = await claimedRequest(method: method, path: path, headers: headers, body: body, caller: caller, to: owner, at: address, via: mesh)
        // one deadline over the head and the whole body: a member that sends its head and then
        // trickles the body loses the request, as one that never answers does
        let (status, answerHeaders, data) = try await withDeadline(seconds: Double(Self.peerSeconds), "the answer of \(owner)") {
            let answer = try await Self.peerClient.execute(request, timeout: .seconds(Int64(Self.peerSeconds)))
            return (answer.status, answer.headers, try await answer.body.collect(upTo: Self.peerAnswerLimit))
        }
        var headers: HTTPFields = [Self.servedByHeader: owner]
        headers[.contentType] = answerHeaders.first(name: "Content-Type") ?? "application/json"
        for name in [Self.recordIDHeader, Self.projectHeader, Self.createdAtHeader] {
            if let v = answerHeaders.first(name: name.rawName) { headers[name] = v }
        }
        return PeerAnswer(response: Response(status: .init(code: Int(status.code)), headers: headers, body: .init(byteBuffer: data)),
                          body: data, headers: answerHeaders)
    }
}
