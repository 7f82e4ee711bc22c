import Foundation
import GuardianCore
import Yams

/// A repository's own configuration, `.guardian.yml` at its root (read from the audited commit):
///
/// ```yaml
/// exclude: ["docs/generated/**", "*.pb.swift"]     # never read
/// vendored: ["Sources/CZlib/"]                    # not the team's code: out of the code checks, listed in the report
/// rules:
///   strict/parameter-count: off                   # off, or a severity: info, low, medium, high, critical
///   integrity/placeholder-marker: info
/// thresholds:
///   max_cyclomatic: 15                            # any key of docs/scoring.md's thresholds table
/// ```
///
/// `.gitattributes` entries marked `linguist-vendored` or `linguist-generated` count as vendored.
/// A configuration that does not parse, names an unknown key or rule, or gives a value of the wrong
/// kind is an error that names the file and line: it is never silently ignored.
public struct RepositoryConfig: Sendable, Equatable {
    public enum RuleSetting: Sendable, Equatable {
        case off
        case severity(Severity)
    }

    public var exclude: [Glob] = []
    public var vendored: [Glob] = []
    public var rules: [String: RuleSetting] = [:]
    /// Threshold overrides by their snake_case name.
    public var thresholds: [String: Double] = [:]
    /// Where each vendored pattern came from (`.guardian.yml` or `.gitattributes`), for the report.
    public var vendoredSource: [String: String] = [:]

    public init() {}

    public static let fileName = ".guardian.yml"

    /// Thresholds given as whole numbers, and those given as shares (0–1), by their names.
    public static let countKeys: Set<String> = ["max_cyclomatic", "max_function_lines", "max_parameters", "max_nesting", "max_file_lines",
                                                "duplicate_min_lines", "max_commit_files", "max_commit_lines", "max_subject_length",
                                                "large_file_bytes", "pass_score", "fail_score"]
    public static let shareKeys: Set<String> = ["min_test_ratio", "min_coverage", "min_merged_share", "min_conventional_share",
                                                "max_untested_commit_share"]

    /// Thresholds with this configuration's overrides applied.
    public func apply(to t: Thresholds) -> Thresholds {
        var out = t
        for (k, v) in thresholds {
            let n = Int(v)
            switch k {
            case "max_cyclomatic": out.maxCyclomatic = n
            case "max_function_lines": out.maxFunctionLines = n
            case "max_parameters": out.maxParameters = n
            case "max_nesting": out.maxNesting = n
            case "max_file_lines": out.maxFileLines = n
            case "duplicate_min_lines": out.duplicateMinLines = n
            case "max_commit_files": out.maxCommitFiles = n
            case "max_commit_lines": out.maxCommitLines = n
            case "max_subject_length": out.maxSubjectLength = n
            case "large_file_bytes": out.largeFileBytes = n
            case "pass_score": out.passScore = n
            case "fail_score": out.failScore = n
            case "min_test_ratio": out.minTestRatio = v
            case "min_coverage": out.minCoverage = v
            case "min_merged_share": out.minMergedShare = v
            case "min_conventional_share": out.minConventionalShare = v
            case "max_untested_commit_share": out.maxUntestedCommitShare = v
            default: break // parse refuses unknown names
            }
        }
        return out
    }

    /// The vendored pattern `path` matches, if any.
    public func vendoredPattern(_ path: String) -> Glob? { vendoredPattern(Glob.Path(path)) }
    public func vendoredPattern(_ path: Glob.Path) -> Glob? { vendored.first { $0.matches(path) } }
    public func isExcluded(_ path: String) -> Bool { isExcluded(Glob.Path(path)) }
    public func isExcluded(_ path: Glob.Path) -> Bool { exclude.contains { $0.matches(path) } }

    // MARK: parsing

    /// Parses `.guardian.yml`. Errors say `FILE:LINE: what is wrong`.
    public static func parse(_ text: String, file: String = fileName) throws -> RepositoryConfig {
        func bad(_ node: Node?, _ message: String) -> GuardianError {
            GuardianError.usage("\(file):\(node?.mark.map { "\($0.line)" } ?? "1"): \(message)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw GuardianError.usage("\(file): not valid YAML: \(e)")
        }
        var config = RepositoryConfig()
        guard let root else { return config } // an empty file configures nothing
        guard let top = root.mapping else { throw bad(root, "the configuration must be a mapping of exclude, vendored, rules and thresholds") }
        for (keyNode, value) in top {
            guard let key = keyNode.string else { throw bad(keyNode, "a key must be a string") }
            switch key {
            case "exclude", "vendored":
                guard let seq = value.sequence else { throw bad(value, "\(key) must be a list of path patterns") }
                var globs: [Glob] = []
                for item in seq {
                    guard let s = item.string, !s.isEmpty else { throw bad(item, "\(key) entries must be non-empty path patterns") }
                    globs.append(Glob(s))
                }
                if key == "exclude" { config.exclude = globs } else {
                    config.vendored = globs
                    for g in globs { config.vendoredSource[g.pattern] = file }
                }
            case "rules":
                guard let map = value.mapping else { throw bad(value, "rules must map rule ids to off or a severity") }
                for (ruleNode, settingNode) in map {
                    guard let rule = ruleNode.string, RuleCatalog.all.contains(where: { $0.id == rule }) else {
                        throw bad(ruleNode, "unknown rule '\(ruleNode.string ?? "?")' (guardian rules lists them)")
                    }
                    let raw = settingNode.string?.lowercased() ?? (settingNode.bool == false ? "off" : "")
                    if raw == "off" {
                        config.rules[rule] = .off
                    } else if let sev = Severity(rawValue: raw) {
                        config.rules[rule] = .severity(sev)
                    } else {
                        throw bad(settingNode, "rule \(rule): '\(settingNode.string ?? "?")' is not off, info, low, medium, high or critical")
                    }
                }
            case "thresholds":
                guard let map = value.mapping else { throw bad(value, "thresholds must map threshold names to numbers") }
                for (nameNode, numberNode) in map {
                    guard let name = nameNode.string, countKeys.contains(name) || shareKeys.contains(name) else {
                        let known = (countKeys.union(shareKeys)).sorted().joined(separator: ", ")
                        throw bad(nameNode, "unknown threshold '\(nameNode.string ?? "?")' (known: \(known))")
                    }
                    guard let v = numberNode.float ?? numberNode.int.map(Double.init), v.isFinite, v >= 0 else {
                        throw bad(numberNode, "threshold \(name) must be a number ≥ 0")
                    }
                    if shareKeys.contains(name) && v > 1 { throw bad(numberNode, "threshold \(name) is a share: 0 to 1") }
                    config.thresholds[name] = v
                }
            default:
                throw bad(keyNode, "unknown key '\(key)' (known: exclude, vendored, rules, thresholds)")
            }
        }
        return config
    }

    /// Adds the paths `.gitattributes` marks `linguist-vendored` or `linguist-generated` (set, or
    /// `=true`); an attribute unset with `-` or `=false` is left alone.
    public mutating func addGitAttributes(_ text: String) {
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let pattern = fields.first else { continue }
            for attr in fields.dropFirst() where ["linguist-vendored", "linguist-vendored=true", "linguist-generated", "linguist-generated=true"].contains(attr) {
                let g = Glob(pattern)
                vendored.append(g)
                vendoredSource[pattern] = attr.hasPrefix("linguist-generated") ? ".gitattributes (generated)" : ".gitattributes"
                break
            }
        }
    }
}
