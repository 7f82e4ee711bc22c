/// C libraries bundled into a SwiftPM package as a target of their own (`Sources/CYaml/`,
/// `Sources/CNIOBoringSSL/`): someone else's code, copied in, so counted as vendored. A `Sources/C…`
/// target is bundled when it carries the library's own licence or an update script (how vendored
/// copies are refreshed), holds a well-known library's files, or is too large to be a shim (20 or
/// more C-family files). Small shim targets the project wrote itself (`CNIOLinux`) stay audited.
enum BundledLibraries {
    static let cFamily: Set<String> = ["c", "h", "cc", "cpp", "cxx", "hpp", "hh", "inc", "s"]

    /// Files that only a copy of a well-known C library has.
    static let wellKnownFiles: Set<String> = ["yaml.h", "yaml_private.h", "deflate.c", "inflate.c", "zlib.h", "sqlite3.c", "sqlite3.h",
                                              "blf.c", "blf.h", "bcrypt.c", "toml.hpp", "llhttp.h", "http_parser.c", "cjson.c",
                                              "miniz.c", "lz4.c", "zstd.h", "xxhash.h", "utf8proc.c", "mbedtls", "cmark.h",
                                              "keccakhash.c", "sha1.c", "md5.c", "base64.c"]

    /// The bundled targets of a file list: the target's folder (`Sources/CYaml/`) and why.
    static func detect(_ paths: [String]) -> [(prefix: String, reason: String)] {
        var targets: [String: (cFiles: Int, reason: String?)] = [:]
        let sourcesC = Array("Sources/C".utf8)
        for path in paths {
            // most paths are not under a `Sources/C…` target: rejected on bytes, before any splitting
            guard path.utf8.starts(with: sourcesC) else { continue }
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count >= 3, parts[0] == "Sources", isCTargetName(parts[1]) else { continue }
            let prefix = "Sources/\(parts[1])/"
            var entry = targets[prefix] ?? (0, nil)
            let name = parts[parts.count - 1].lowercased()
            let ext = name.split(separator: ".").count > 1 ? String(name.split(separator: ".").last!) : ""
            if cFamily.contains(ext) { entry.cFiles += 1 }
            if entry.reason == nil {
                if ["license", "licence", "copying", "notice"].contains(where: { name.hasPrefix($0) }) {
                    entry.reason = "its own \(parts[parts.count - 1])"
                } else if (name.hasPrefix("update") || name.hasPrefix("vendor")) && name.hasSuffix(".sh") {
                    entry.reason = "an update script, \(parts[parts.count - 1])"
                } else if wellKnownFiles.contains(name) {
                    entry.reason = "a well-known library file, \(parts[parts.count - 1])"
                }
            }
            targets[prefix] = entry
        }
        return targets.compactMap { prefix, e in
            guard e.cFiles > 0 else { return nil }
            if let r = e.reason { return (prefix, "bundled C library: \(r)") }
            return e.cFiles >= 20 ? (prefix, "bundled C library: \(e.cFiles) C files") : nil
        }.sorted { $0.prefix < $1.prefix }
    }

    /// `C` followed by an upper-case letter: SwiftPM's convention for a C target (`CYaml`, `CNIOLinux`).
    static func isCTargetName(_ s: Substring) -> Bool {
        let u = Array(s.utf8)
        return u.count >= 2 && u[0] == 67 && u[1] >= 65 && u[1] <= 90
    }
}

extension RepositoryConfig {
    /// Marks the bundled C libraries of a file list as vendored (those a pattern of `.guardian.yml`
    /// or `.gitattributes` already covers keep that pattern's source in the report).
    mutating func addBundledLibraries(_ paths: [String]) {
        for (prefix, reason) in BundledLibraries.detect(paths) where vendoredPattern(prefix + "x.c") == nil {
            vendored.append(Glob(prefix))
            vendoredSource[prefix] = reason
        }
    }
}
