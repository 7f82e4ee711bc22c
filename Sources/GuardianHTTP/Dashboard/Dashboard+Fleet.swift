import Foundation
import GuardianCore
import GuardianNode
import GuardianStore
import Hummingbird

/// The fleet: one row per project the caller may see, from this node's registry and the replicated
/// summaries (so any node lists every project with its scores), filtered, sorted and searched on
/// the server (links and a GET form: no script needed).
extension Dashboard {
    struct FleetQuery {
        var q = "", team = "", check = "", status = "", sort = "name", dir = "asc", page = 1
        static let pageSize = 1000
        static let sorts = ["name", "team", "health", "last"] + Check.allCases.map(\.rawValue)

        init(_ get: (String) -> String?) {
            q = get("q") ?? ""; team = get("team") ?? ""; check = get("check") ?? ""; status = get("status") ?? ""
            sort = get("sort").flatMap { Self.sorts.contains($0) ? $0 : nil } ?? "name"
            dir = get("dir") == "desc" ? "desc" : "asc"
            page = max(1, Int(get("page") ?? "") ?? 1)
            if Check(rawValue: check) == nil { check = "" }
        }

        func href(sort: String? = nil, dir: String? = nil, page: Int? = nil) -> String {
            var parts: [String] = []
            func add(_ k: String, _ v: String) {
                if !v.isEmpty { parts.append("\(k)=\(v.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")") }
            }
            add("q", q); add("team", team); add("check", check); add("status", status)
            add("sort", sort ?? self.sort); add("dir", dir ?? self.dir)
            if let page, page > 1 { add("page", String(page)) }
            return "/ui/?" + parts.joined(separator: "&")
        }
    }

    static func symbol(_ status: String) -> String {
        switch status {
        case "passed": "✔"
        case "warning": "▲"
        case "failed": "✖"
        case "alive": "●"
        case "suspect": "◐"
        default: "–"
        }
    }

    static func band(_ health: Int?) -> String {
        guard let h = health else { return "none" }
        return h >= 80 ? "good" : h >= 60 ? "fair" : "poor"
    }

    static func when(_ t: Double?) -> (text: String, iso: String)? {
        guard let t else { return nil }
        let iso = ISO8601.format(t)
        return (String(iso.prefix(16)).replacingOccurrences(of: "T", with: " ") + " UTC", iso)
    }

    /// The fleet table's rows as HTML: each row rendered from `fleetrow` once per state of its
    /// project (the project, its summary, a running audit's progress) and kept, so that a fleet of a
    /// thousand projects costs a thousand lookups, not a thousand renders.
    func rowsHTML(_ projects: [ProjectRecord], summaries: [String: ProjectSummary], linkPrefix: String = "/ui/projects/",
                  live: Bool = true) -> String {
        var html = ""
        html.reserveCapacity(projects.count * 1600)
        for p in projects {
            let s = summaries[p.id]
            // one snapshot of the audit for both the key and the row
            let task = live ? node.currentTask(project: p.id) : nil
            // a summary is replaced only by one of a newer result: its result id stands for its content
            let key = "\(linkPrefix)|\(p.updatedAt)|\(p.lastAuditAt ?? 0)|\(s?.resultId ?? "-")|"
                + (task.map { "\($0.state.rawValue)|\($0.phase)|\(Int($0.progress * 100))" } ?? "")
            if let hit = api.rowCache.get(p.id, key: key) { html += hit; continue }
            let row = Self.library.render(row(p, summary: s, task: task, linkPrefix: linkPrefix), withTemplate: "fleetrow") ?? ""
            api.rowCache.put(p.id, key: key, row)
            html += row
        }
        return html
    }

    /// One row of the fleet table: the project, its summary, its running audit.
    func row(_ p: ProjectRecord, summary s: ProjectSummary?, task: AuditTask?, linkPrefix: String) -> [String: Any] {
        var row: [String: Any] = ["id": p.id, "name": p.name, "team": p.team, "link": linkPrefix + p.id,
                                  "health": s.map { String($0.health) } ?? "–", "healthBand": Self.band(s?.health),
                                  "sparkline": Charts.sparkline(s?.trend ?? [])]
        if let s { row["gate"] = s.gatePassed ? "passed" : "failed" }
        if let c = s?.commit { row["commit"] = String(c.prefix(10)) }
        if let w = Self.when(s?.createdAt ?? p.lastAuditAt) { row["lastAudit"] = w.text; row["lastAuditIso"] = w.iso } else { row["lastAudit"] = "never" }
        row["checks"] = Check.allCases.map { c -> [String: Any] in
            let b = s?.checks[c.rawValue]
            let status = b?.status ?? "none"
            return ["name": c.rawValue, "status": status, "symbol": Self.symbol(status),
                    "label": b.map { "\($0.status) \($0.score)" } ?? "none", "scoreText": b.map { ", score \($0.score)" } ?? ""]
        }
        if let t = task {
            row["running"] = ["phase": t.state == .queued ? "queued" : t.phase, "percent": Int(min(max(t.progress, 0), 1) * 100)] as [String: Any]
        }
        return row
    }

    @Sendable func fleet(_ request: Request, context: GuardianContext) async throws -> Response {
        await handle(request) {
            let (_, s) = try requireCaller(request)
            let q = FleetQuery { request.uri.queryParameters.get($0) }
            let visible = try node.store.projects().filter { s.principal.canRead(team: $0.team) }
            let summaries = try node.store.summaries()
            var list = visible
            if !q.team.isEmpty { list = list.filter { $0.team == q.team } }
            if !q.q.isEmpty { list = list.filter { $0.name.localizedCaseInsensitiveContains(q.q) || $0.id.localizedCaseInsensitiveContains(q.q) } }
            if !q.status.isEmpty {
                list = list.filter { p in
                    guard let sum = summaries[p.id] else { return q.status == "none" }
                    if !q.check.isEmpty { return (sum.checks[q.check]?.status ?? "none") == q.status }
                    switch q.status {
                    case "passed": return sum.gatePassed
                    case "failed": return !sum.gatePassed
                    case "warning": return sum.checks.values.contains { $0.status == "warning" }
                    default: return false
                    }
                }
            }
            func key(_ p: ProjectRecord) -> Double {
                let sum = summaries[p.id]
                switch q.sort {
                case "health": return Double(sum?.health ?? -1)
                case "last": return sum?.createdAt ?? p.lastAuditAt ?? 0
                default: return Double(sum?.checks[q.sort]?.score ?? -1)
                }
            }
            // a strict order (ties broken by id), reversed by swapping the operands
            func before(_ a: ProjectRecord, _ b: ProjectRecord) -> Bool {
                switch q.sort {
                case "name": return (a.name.lowercased(), a.id) < (b.name.lowercased(), b.id)
                case "team": return (a.team, a.name.lowercased(), a.id) < (b.team, b.name.lowercased(), b.id)
                default: let ka = key(a), kb = key(b); return ka != kb ? ka < kb : a.id < b.id
                }
            }
            list.sort { q.dir == "asc" ? before($0, $1) : before($1, $0) }
            let pages = max(1, (list.count + FleetQuery.pageSize - 1) / FleetQuery.pageSize)
            let current = min(q.page, pages)
            let shown = Array(list.dropFirst((current - 1) * FleetQuery.pageSize).prefix(FleetQuery.pageSize))
            var ctx = base("Fleet", s, live: "fleet")
            ctx["navFleet"] = true
            ctx["heading"] = "Fleet"
            ctx["q"] = q.q
            ctx["sort"] = q.sort
            ctx["dir"] = q.dir
            ctx["teams"] = Set(visible.map(\.team)).sorted().map { ["name": $0, "selected": $0 == q.team] as [String: Any] }
            ctx["checkOptions"] = Check.allCases.map { ["name": $0.rawValue, "selected": $0.rawValue == q.check] as [String: Any] }
            ctx["statusOptions"] = ["passed", "warning", "failed", "none"].map { ["name": $0, "selected": $0 == q.status] as [String: Any] }
            ctx["columns"] = columns(q)
            ctx["rowsHtml"] = rowsHTML(shown, summaries: summaries)
            ctx["hasRows"] = !shown.isEmpty
            ctx["shown"] = shown.count
            ctx["total"] = list.count
            if pages > 1 {
                ctx["pages"] = pages; ctx["page"] = current; ctx["hasPages"] = true
                ctx["pageLinks"] = (1...pages).map { ["n": $0, "href": q.href(page: $0), "current": $0 == current] as [String: Any] }
            }
            return page("fleet", ctx, request: request)
        }
    }

    /// The table's headers: each a link that sorts by it (again: the other way), with `aria-sort`.
    func columns(_ q: FleetQuery) -> [[String: Any]] {
        let cols: [(String, String?)] = [("Project", "name"), ("Team", "team"), ("Health", "health")]
            + Check.allCases.map { ($0.rawValue, $0.rawValue) } + [("Last audit", "last"), ("Trend", nil)]
        return cols.map { label, key in
            var c: [String: Any] = ["label": label]
            if let key {
                let active = q.sort == key
                c["href"] = q.href(sort: key, dir: active && q.dir == "asc" ? "desc" : "asc", page: 1)
                if active { c["ariaSort"] = q.dir == "asc" ? "ascending" : "descending" }
            }
            return c
        }
    }
}
