import Foundation
import Hummingbird
import Logging

/// One log line per HTTP request at debug, once it is answered: method, route (the pattern, never
/// the path or its query, which may carry ids a log should not collect), status and milliseconds.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = GuardianContext

    func handle(_ request: Request, context: GuardianContext, next: (Request, GuardianContext) async throws -> Response) async throws -> Response {
        guard context.logger.logLevel <= .debug else { return try await next(request, context) }
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: Int(response.status.code), since: start)
            return response
        } catch {
            log(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: start)
            throw error
        }
    }

    func log(_ request: Request, _ context: GuardianContext, status: Int, since start: ContinuousClock.Instant) {
        let d = ContinuousClock.now - start
        let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        context.logger.debug("http request", metadata: [
            "method": "\(request.method.rawValue)", "route": "\(context.endpointPath ?? "unmatched")",
            "status": "\(status)", "ms": "\(String(format: "%.1f", ms))",
        ])
    }
}
