/// The one grammar of the names Guardian keeps records under: projects, teams and tokens. An id is
/// a name, never a path: 1–128 ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a
/// digit. So an id is always one path component, and never `.` or `..`, wherever it arrives from
/// (the API, registry sync, an air-gap bundle, a peer's shard request).
public enum Identifier {
    public static let maxLength = 128

    public static func isValid(_ s: String) -> Bool {
        let u = s.utf8
        guard let first = u.first, u.count <= maxLength, isAlphanumeric(first) else { return false }
        return u.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// Throws a usage error naming `what` when `s` is not an id.
    public static func check(_ s: String, _ what: String) throws {
        guard isValid(s) else { throw GuardianError.usage(message(s, what)) }
    }

    /// Why `s` is refused as `what` (the value is shortened: it may be hostile).
    public static func message(_ s: String, _ what: String) -> String {
        let shown = s.count > 40 ? String(s.prefix(40)) + "…" : s
        return "\(what) '\(shown.debugDescription.dropFirst().dropLast())' is not an id: 1–\(maxLength) ASCII letters, digits, '.', '_' or '-',"
            + " starting with a letter or digit"
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }
}

/// Limits on the free-text fields of registry records (a name, a URL): a record is a few hundred
/// bytes, and nothing a client or a peer sends may make it megabytes.
public enum FieldLimits {
    public static let name = 200
    public static let url = 2048
    public static let branch = 255
    public static let secret = 4096

    /// Nil when `value` fits `max` bytes and holds no control character; else why not.
    public static func problem(_ value: String, _ field: String, max: Int) -> String? {
        if value.utf8.count > max { return "\(field) is longer than \(max) bytes" }
        if value.unicodeScalars.contains(where: { $0.value < 32 || $0.value == 127 }) { return "\(field) contains a control character" }
        return nil
    }
}
