import Foundation
import GuardianCore
import GuardianNode

/// `createWebhook` at registration (docs/pull-requests.md): the project's webhook made on its code
/// host through the host's API, for pushes and pull requests, pointing at `public_url` and signed
/// with the project's secret. Azure DevOps' service hooks are set per project collection with ids
/// the registration does not have: there it says so.
struct CodeHostWebhooks: Sendable {
    let host: CodeHost
    let targets: AlertTargets

    func create(url: String, secret: String) async -> WebhookSetup {
        let writer = CodeHostWriter(host: host, targets: targets)
        let call: (String, [String: Any])
        switch host.provider {
        case .github:
            call = ("\(writer.base)/repos/\(writer.repositoryPath)/hooks", [
                "name": "web", "active": true, "events": ["push", "pull_request"],
                "config": ["url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"],
            ])
        case .gitlab:
            call = ("\(writer.base)/projects/\(CodeHostWriter.segment(host.repository))/hooks", [
                "url": url, "token": secret, "push_events": true, "merge_requests_events": true, "enable_ssl_verification": true,
            ])
        case .bitbucket:
            call = ("\(writer.base)/repositories/\(writer.repositoryPath)/hooks", [
                "description": "Guardian", "url": url, "active": true, "secret": secret,
                "events": ["repo:push", "pullrequest:created", "pullrequest:updated"],
            ])
        case .azure:
            return WebhookSetup(url: url, created: false,
                         answer: "Azure DevOps webhooks are service hooks: add one for \"Code pushed\" and \"Pull request created/updated\" to this URL, with basic auth and the secret as password")
        }
        guard host.token?.isEmpty == false else { return WebhookSetup(url: url, created: false, answer: "the project's codeHost has no token") }
        do {
            _ = try await writer.client.call(.POST, call.0, json: call.1, "creating the webhook")
            return WebhookSetup(url: url, created: true, answer: "created on \(host.provider.rawValue)")
        } catch let f as HostClient.Failure {
            return WebhookSetup(url: url, created: false, answer: f.answer)
        } catch {
            return WebhookSetup(url: url, created: false, answer: "\(error)")
        }
    }
}
