import Foundation
import GuardianCore

/// Inline SVG: the fleet's sparklines, the project's history chart and the README badge. Pure
/// functions of numbers; every text they carry is escaped.
enum Charts {
    /// Points of a polyline for scores 0–100 across `width` × `height`.
    static func points(_ values: [Int], width: Double, height: Double, pad: Double = 1) -> String {
        guard !values.isEmpty else { return "" }
        let step = values.count > 1 ? (width - 2 * pad) / Double(values.count - 1) : 0
        return values.enumerated().map { i, v in
            let x = pad + Double(i) * step, y = pad + (height - 2 * pad) * (1 - Double(min(max(v, 0), 100)) / 100)
            return String(format: "%.1f,%.1f", x, y)
        }.joined(separator: " ")
    }

    /// The health trend as a small line, with its values as the accessible name.
    static func sparkline(_ trend: [Int]) -> String {
        guard trend.count > 1 else { return trend.first.map { "<span class=\"muted\">\($0)</span>" } ?? "" }
        let label = "Health trend: " + trend.map(String.init).joined(separator: ", ")
        return "<svg class=\"spark\" viewBox=\"0 0 80 20\" role=\"img\" aria-label=\"\(label)\"><polyline points=\"\(points(trend, width: 80, height: 20))\"/></svg>"
    }

    /// Health and each check's score over past results (oldest first), with a legend.
    static func history(health: [Int], checks: [(name: String, scores: [Int])]) -> String {
        guard health.count > 1 else { return "<p>One result so far: the history starts with the next audit.</p>" }
        let w = 720.0, h = 200.0
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" role=\"img\" aria-labelledby=\"chart-title\"><title id=\"chart-title\">"
        svg += "Health over the last \(health.count) results: " + health.map(String.init).joined(separator: ", ") + "</title>"
        for y in [0, 50, 100] {
            let py = 10 + (h - 20) * (1 - Double(y) / 100)
            svg += String(format: "<line class=\"axis\" x1=\"30\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/><text x=\"4\" y=\"%.1f\">%d</text>", w - 4, py, py, py + 3, y)
        }
        func line(_ values: [Int], _ cls: String) -> String {
            let pts = points(values, width: w - 40, height: h - 20, pad: 0).split(separator: " ").map { p -> String in
                let xy = p.split(separator: ",").compactMap { Double($0) }
                return String(format: "%.1f,%.1f", xy[0] + 34, xy[1] + 10)
            }.joined(separator: " ")
            return "<polyline class=\"\(cls)\" points=\"\(pts)\"/>"
        }
        for (i, c) in checks.enumerated() where c.scores.count == health.count { svg += line(c.scores, "c\(i)") }
        svg += line(health, "health")
        svg += "</svg><ul class=\"legend\"><li><strong>━ health</strong></li>"
        for (i, c) in checks.enumerated() { svg += "<li class=\"c\(i)\">━ \(HTML.escape(c.name)) (\(c.scores.last ?? 0))</li>" }
        return svg + "</ul>"
    }

    /// A shields-style badge: "guardian | 87" coloured by health, or "no result".
    static func badge(health: Int?, gatePassed: Bool?) -> String {
        let value = health.map { "\($0)" + (gatePassed == false ? " · gate failed" : "") } ?? "no result"
        let colour: String
        switch health {
        case .none: colour = "#9f9f9f"
        case .some(let v) where v >= 80 && gatePassed != false: colour = "#2e7d32"
        case .some(let v) where v >= 60: colour = "#b26a00"
        default: colour = "#c62828"
        }
        let left = 62, right = 10 + 7 * value.count
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(left + right)" height="20" role="img" aria-label="guardian: \(HTML.escape(value))">\
            <title>guardian: \(HTML.escape(value))</title><rect width="\(left)" height="20" fill="#555"/>\
            <rect x="\(left)" width="\(right)" height="20" fill="\(colour)"/>\
            <g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">\
            <text x="8" y="14">guardian</text><text x="\(left + 5)" y="14">\(HTML.escape(value))</text></g></svg>
            """
    }
}
