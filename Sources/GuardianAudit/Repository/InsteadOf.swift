/// One `url.<base>.insteadOf = <prefix>` rule of git's configuration: a URL that starts with the
/// prefix is fetched from the base followed by the rest of the URL.
struct InsteadOf: Sendable, Equatable {
    var base: String
    var prefix: String

    /// `url` rewritten by the rule with the longest matching prefix (git's rule; the first of
    /// equally long ones), or unchanged when none matches.
    static func rewrite(_ url: String, _ rules: [InsteadOf]) -> String {
        var best: InsteadOf?
        for r in rules where !r.prefix.isEmpty && url.hasPrefix(r.prefix) && r.prefix.count > (best?.prefix.count ?? -1) { best = r }
        guard let best else { return url }
        return best.base + url.dropFirst(best.prefix.count)
    }
}
