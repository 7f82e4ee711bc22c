/// Text for HTML and SVG (the dashboard's charts, alert emails): the five characters that could
/// open markup or end an attribute, escaped.
public enum HTML {
    public static func escape<S: StringProtocol>(_ s: S) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
