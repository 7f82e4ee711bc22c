import GuardianCrypto

/// The dashboard's templates and assets, compiled into the binary by SwiftPM (`embedInCode`).
enum DashboardResources {
    static let templates: [String: [UInt8]] = [
        "head": PackageResources.head_mustache, "foot": PackageResources.foot_mustache, "login": PackageResources.login_mustache,
        "checkcells": PackageResources.checkcells_mustache, "fleet": PackageResources.fleet_mustache, "fleetrow": PackageResources.fleetrow_mustache,
        "project": PackageResources.project_mustache, "team": PackageResources.team_mustache, "mesh": PackageResources.mesh_mustache,
        "error": PackageResources.error_mustache,
    ]

    struct Asset: Sendable { var bytes: [UInt8]; var type: String; var etag: String }

    static let assets: [String: Asset] = {
        func asset(_ bytes: [UInt8], _ type: String) -> Asset {
            Asset(bytes: bytes, type: type, etag: "\"" + String(Sodium.hex(Sodium.blake2b(bytes, length: 16)).prefix(24)) + "\"")
        }
        return ["style.css": asset(PackageResources.style_css, "text/css; charset=utf-8"),
                "live.js": asset(PackageResources.live_js, "text/javascript; charset=utf-8"),
                "icon.svg": asset(PackageResources.icon_svg, "image/svg+xml")]
    }()

    /// One version over every asset: it changes exactly when an asset does.
    static let version: String = {
        let all = assets.keys.sorted().flatMap { Array(assets[$0]!.etag.utf8) }
        return String(Sodium.hex(Sodium.blake2b(all, length: 16)).prefix(12))
    }()
}
