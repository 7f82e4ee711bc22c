import GuardianNode
import GuardianCore
import GuardianStore
import HTTPTypes
import Hummingbird
import NIOCore

/// Maps every error to `{"error": {"code", "message"}}` with its status: the one place where the
/// domain's errors become HTTP.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = GuardianContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return APIError.json(status: e.status, code: e.code, message: e.message)
        } catch let e as NodeError {
            return APIError.json(status: Self.status(of: e.kind), code: e.code, message: e.message)
        } catch let e as HTTPError {
            let message = e.body ?? (e.status.code == 404 ? "no route \(request.method) \(request.uri.path)" : e.status.reasonPhrase)
            return APIError.json(status: e.status, code: Self.code(of: e.status), message: message)
        } catch let e as InvalidRecord {
            return APIError.json(status: .badRequest, code: "invalid_field", message: e.message)
        } catch let e as RepositoryRefused {
            return APIError.json(status: .badRequest, code: "repository_not_allowed", message: e.message)
        } catch let e as GuardianError {
            return APIError.json(status: .internalServerError, code: "internal", message: e.description)
        } catch is NIOTooManyBytesError {
            return APIError.json(status: .contentTooLarge, code: "body_too_large",
                                 message: "the request body is larger than the limit (max_body_bytes)")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return APIError.json(status: .internalServerError, code: "internal", message: "internal error: \(error)")
        }
    }

    static func status(of kind: NodeError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .invalid: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .unavailable: .serviceUnavailable
        }
    }

    static func code(of status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 413: "body_too_large"
        case 400: "bad_request"
        default: "http_\(status.code)"
        }
    }
}
