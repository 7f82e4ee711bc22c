import Foundation

/// A pull (merge) request to audit: its number, the head commit the host announced, the branch
/// it targets, and the ref the host publishes its head under (fetched into the mirror).
public struct PullRequestTask: Codable, Sendable, Equatable {
    public var number: Int
    public var head: String
    public var target: String
    public var ref: String
    public init(number: Int, head: String, target: String, ref: String) {
        self.number = number; self.head = head; self.target = target; self.ref = ref
    }
}

/// A project's code host settings as a client sends them: each field given replaces the current
/// one (at registration: the settings detected from the repository URL); a token of "" removes
/// the token; `provider: "none"` removes the settings.
public struct CodeHostInput: Codable, Sendable {
    public var provider: String?
    public var apiUrl: String?
    public var repository: String?
    public var token: String?
    public var reviewComments: Int?
    public init(provider: String? = nil, apiUrl: String? = nil, repository: String? = nil, token: String? = nil, reviewComments: Int? = nil) {
        self.provider = provider; self.apiUrl = apiUrl; self.repository = repository; self.token = token; self.reviewComments = reviewComments
    }
}
