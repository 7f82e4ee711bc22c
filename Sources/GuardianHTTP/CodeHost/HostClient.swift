import AsyncHTTPClient
import Foundation
import GuardianCore
import GuardianMesh
import GuardianNode
import NIOCore
import NIOHTTP1

/// One code host API call at a time, bounded: no redirects, a deadline, at most 2 MiB of answer.
/// An answer that is not 2xx ends the write-back: 401, 403 and 404 (a token without the right, a
/// repository renamed) go dead at once and show on the project; 408, 429 and 5xx are retried,
/// after `Retry-After` when the host gives one.
struct HostClient: Sendable {
    let targets: AlertTargets
    let auth: [(String, String)]

    struct Answer {
        var status: Int
        var body: Data
        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
    }

    /// A call that did not succeed: how the outbox takes it, and the line the history shows.
    struct Failure: Error {
        var outcome: AttemptOutcome
        var answer: String
    }

    /// The alert receivers' client: no redirects, bounded connect and read.
    static var client: HTTPClient { AlertTransport.receiverClient }
    static let seconds: Double = 20
    static let answerLimit = 2 << 20

    /// `what` names the call in the history ("setting the commit status").
    func call(_ method: HTTPMethod, _ url: String, json: Any? = nil, _ what: String) async throws -> Answer {
        do { try await targets.check(url) } catch { throw Failure(outcome: .rejected, answer: "\(what): \(error)") }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "User-Agent", value: "Guardian/1")
        request.headers.add(name: "Accept", value: "application/json")
        for (n, v) in auth { request.headers.add(name: n, value: v) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data("{}".utf8)))
        }
        let prepared = request
        let answer: Answer
        let retryAfter: String?
        do {
            (answer, retryAfter) = try await withDeadline(seconds: Self.seconds, "the code host") {
                let response = try await Self.client.execute(prepared, timeout: .seconds(Int64(Self.seconds)))
                var collected = ByteBuffer()
                for try await chunk in response.body {
                    var c = chunk
                    guard collected.readableBytes + c.readableBytes <= Self.answerLimit else { break }
                    collected.writeBuffer(&c)
                }
                return (Answer(status: Int(response.status.code), body: Data(buffer: collected)), response.headers.first(name: "Retry-After"))
            }
        } catch {
            throw Failure(outcome: .retry(retryAfter: nil), answer: "\(what): \(error)")
        }
        guard (200..<300).contains(answer.status) else {
            let line = "\(what): " + AlertTransport.answerLine(status: answer.status, String(decoding: answer.body.prefix(400), as: UTF8.self))
            throw Failure(outcome: AlertMessages.outcome(status: answer.status, retryAfter: retryAfter, now: Date()), answer: line)
        }
        return answer
    }
}
