/// An error of the node's domain that a caller can act on: what kind of refusal it is, a stable
/// code and a message. The domain knows no HTTP; `ErrorMiddleware` maps each kind to a status in
/// one place.
public struct NodeError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The request is malformed or names a value that is not allowed.
        case invalid
        /// What it names does not exist (or the caller may not know it exists).
        case notFound
        /// It conflicts with what exists: a duplicate, or a state that forbids it.
        case conflict
        /// The node cannot take it now (a full queue); trying later may succeed.
        case unavailable
    }

    public var kind: Kind
    public var code: String
    public var message: String

    public init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind; self.code = code; self.message = message
    }

    public var description: String { message }

    public static func noProject(_ id: String) -> NodeError { NodeError(.notFound, "not_found", "no project '\(id)'") }
}
