import Foundation

/// A team's audit profile: how strict, which checks matter most, and how results are used.
/// Files use snake_case keys (configs/teams/*.json).
public struct TeamProfile: Codable, Sendable, Equatable {
    public var name: String
    public var strictness: Double
    public var focusAreas: [Check]
    public var autoCorrection: Bool
    public var notificationFrequency: String
    public var complianceMode: Bool
    public var publicDashboard: Bool
    /// With `--baseline`, the gate fails when a new finding is at least this severe.
    public var gateSeverity: Severity
    /// Share this team's false-positive rates with the mesh, as a prior for teams that have too
    /// few dismissals of their own.
    public var communityFeedback: Bool = false

    enum CodingKeys: String, CodingKey {
        case name, strictness
        case focusAreas = "focus_areas"
        case autoCorrection = "auto_correction"
        case notificationFrequency = "notification_frequency"
        case complianceMode = "compliance_mode"
        case publicDashboard = "public_dashboard"
        case gateSeverity = "gate_severity"
        case communityFeedback = "community_feedback"
    }

    public init(name: String, strictness: Double, focusAreas: [Check], autoCorrection: Bool,
                notificationFrequency: String, complianceMode: Bool, publicDashboard: Bool,
                gateSeverity: Severity = .high) {
        self.name = name; self.strictness = strictness; self.focusAreas = focusAreas
        self.autoCorrection = autoCorrection; self.notificationFrequency = notificationFrequency
        self.complianceMode = complianceMode; self.publicDashboard = publicDashboard; self.gateSeverity = gateSeverity
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        strictness = try c.decode(Double.self, forKey: .strictness)
        guard (0...1).contains(strictness) else {
            throw DecodingError.dataCorruptedError(forKey: .strictness, in: c,
                debugDescription: "strictness must be between 0 and 1, got \(strictness)")
        }
        focusAreas = try c.decodeIfPresent([Check].self, forKey: .focusAreas) ?? []
        autoCorrection = try c.decodeIfPresent(Bool.self, forKey: .autoCorrection) ?? true
        notificationFrequency = try c.decodeIfPresent(String.self, forKey: .notificationFrequency) ?? "daily"
        complianceMode = try c.decodeIfPresent(Bool.self, forKey: .complianceMode) ?? false
        publicDashboard = try c.decodeIfPresent(Bool.self, forKey: .publicDashboard) ?? false
        gateSeverity = try c.decodeIfPresent(Severity.self, forKey: .gateSeverity) ?? .high
        communityFeedback = try c.decodeIfPresent(Bool.self, forKey: .communityFeedback) ?? false
    }

    public var thresholds: Thresholds { Thresholds.forStrictness(strictness) }

    /// Weight of a check in the health score: 2 for focus areas, 1 otherwise.
    public func weight(of check: Check) -> Double { focusAreas.contains(check) ? 2 : 1 }

    // The built-in profiles. The same values ship as files under configs/teams/.
    public static let startup = TeamProfile(
        name: "startup", strictness: 0.7, focusAreas: [.tdd, .flow], autoCorrection: true,
        notificationFrequency: "immediate", complianceMode: false, publicDashboard: false)
    public static let enterprise = TeamProfile(
        name: "enterprise", strictness: 0.95, focusAreas: [.integrity, .servant, .strict], autoCorrection: false,
        notificationFrequency: "daily", complianceMode: true, publicDashboard: false)
    /// Open-source teams work in public: they share their false-positive rates with the mesh.
    public static let openSource: TeamProfile = {
        var p = TeamProfile(name: "open-source", strictness: 0.85, focusAreas: [.git, .sages], autoCorrection: true,
                            notificationFrequency: "weekly", complianceMode: false, publicDashboard: true)
        p.communityFeedback = true
        return p
    }()
    /// Used when no profile is named.
    public static let standard = TeamProfile(
        name: "default", strictness: 0.8, focusAreas: [], autoCorrection: true,
        notificationFrequency: "daily", complianceMode: false, publicDashboard: false)

    public static let builtIn: [String: TeamProfile] = [
        "startup": startup, "enterprise": enterprise, "open-source": openSource, "default": standard,
    ]

    /// `startup`, `enterprise`, `open-source`, `default`, or a path to a JSON profile file.
    public static func load(_ nameOrPath: String) throws -> TeamProfile {
        if let p = builtIn[nameOrPath] { return p }
        guard FileManager.default.fileExists(atPath: nameOrPath) else {
            throw GuardianError.profile("unknown profile '\(nameOrPath)': use startup, enterprise, "
                + "open-source or a path to a JSON profile file")
        }
        guard let data = FileManager.default.contents(atPath: nameOrPath) else {
            throw GuardianError.profile("cannot read profile file \(nameOrPath)")
        }
        return try decode(data, source: nameOrPath)
    }

    public static func decode(_ data: Data, source: String) throws -> TeamProfile {
        do {
            return try JSONDecoder().decode(TeamProfile.self, from: data)
        } catch let DecodingError.dataCorrupted(ctx) {
            throw GuardianError.profile("profile \(source): \(ctx.debugDescription)")
        } catch let DecodingError.keyNotFound(key, _) {
            throw GuardianError.profile("profile \(source): missing key '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw GuardianError.profile("profile \(source): wrong type at "
                + ctx.codingPath.map(\.stringValue).joined(separator: ".") + ": \(ctx.debugDescription)")
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw GuardianError.profile("profile \(source): missing value at "
                + ctx.codingPath.map(\.stringValue).joined(separator: "."))
        } catch {
            throw GuardianError.profile("profile \(source): \(error)")
        }
    }
}
