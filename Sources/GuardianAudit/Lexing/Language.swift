/// Languages Guardian recognises, by file name.
public enum Language: String, Codable, Sendable, CaseIterable {
    case swift, python, javascript, typescript, go, rust, java, kotlin, c, cpp, csharp, objc
    case ruby, php, shell
    case yaml, json, toml, xml, markdown, dockerfile, makefile, lcov, text, other

    /// Languages with functions that Guardian measures.
    public var isCode: Bool {
        switch self {
        case .swift, .python, .javascript, .typescript, .go, .rust, .java, .kotlin, .c, .cpp, .csharp, .objc: true
        default: false
        }
    }

    /// Languages whose comments are scanned for markers although functions are not measured.
    public var isScript: Bool { self == .ruby || self == .php || self == .shell }

    public var isText: Bool { self != .other }

    /// Detects the language from a path (extension, or well-known file names).
    public static func detect(path: String) -> Language {
        let name = path.split(separator: "/").last ?? path[...]
        let lower = name.lowercased()
        if lower == "dockerfile" || lower.hasPrefix("dockerfile.") || lower.hasSuffix(".dockerfile")
            || lower == "containerfile" { return .dockerfile }
        if lower == "makefile" || lower == "gnumakefile" || lower.hasSuffix(".mk") { return .makefile }
        if lower == "jenkinsfile" { return .text }
        if lower == "lcov.info" || lower.hasSuffix(".lcov") { return .lcov }
        guard let dot = lower.lastIndex(of: ".") else {
            if lower == "license" || lower == "readme" || lower == "changelog" || lower == "contributing" { return .text }
            return .other
        }
        // a String, not a Substring: small ASCII strings compare by their bits, not by Unicode rules
        switch String(lower[lower.index(after: dot)...]) {
        case "swift": return .swift
        case "py", "pyi": return .python
        case "js", "mjs", "cjs", "jsx": return .javascript
        case "ts", "tsx", "mts", "cts": return .typescript
        case "go": return .go
        case "rs": return .rust
        case "java": return .java
        case "kt", "kts": return .kotlin
        case "c", "h": return .c
        case "cc", "cpp", "cxx", "hpp", "hh", "hxx", "ipp", "inl": return .cpp
        case "cs": return .csharp
        case "m", "mm": return .objc
        case "rb": return .ruby
        case "php": return .php
        case "sh", "bash", "zsh", "ksh": return .shell
        case "yml", "yaml": return .yaml
        case "json": return .json
        case "toml": return .toml
        case "xml", "plist": return .xml
        case "md", "markdown", "rst", "adoc": return .markdown
        case "txt", "cfg", "ini", "conf", "env", "properties", "gradle", "in", "lock", "sum", "mod", "resolved",
             "gitignore", "gitattributes", "editorconfig":
            return .text
        default:
            if lower.hasPrefix(".env") { return .text }
            return .other
        }
    }
}

/// How the lexer reads a language family.
struct Dialect: Sendable {
    var hashComments = false
    var slashComments = true
    var nestedBlockComments = false
    var tripleQuotes = false
    var singleQuoteString = false
    var singleQuoteChar = false
    var rustLifetimes = false
    var backtickTemplate = false
    var backtickRaw = false
    var backtickIdentifier = false
    var swiftStrings = false
    var dollarInterpolation = false
    var rustRawStrings = false
    var cppRawStrings = false
    var csharpStrings = false
    var cPreprocessor = false
    var pythonPrefixes = false

    static func of(_ language: Language) -> Dialect {
        var d = Dialect()
        switch language {
        case .swift:
            d.nestedBlockComments = true; d.tripleQuotes = true; d.swiftStrings = true; d.backtickIdentifier = true
        case .python:
            d.hashComments = true; d.slashComments = false; d.tripleQuotes = true; d.singleQuoteString = true
            d.pythonPrefixes = true
        case .javascript, .typescript:
            d.singleQuoteString = true; d.backtickTemplate = true; d.dollarInterpolation = true
        case .go:
            d.singleQuoteChar = true; d.backtickRaw = true
        case .rust:
            d.nestedBlockComments = true; d.singleQuoteChar = true; d.rustLifetimes = true; d.rustRawStrings = true
        case .java:
            d.singleQuoteChar = true; d.tripleQuotes = true
        case .kotlin:
            d.nestedBlockComments = true; d.singleQuoteChar = true; d.tripleQuotes = true
            d.backtickIdentifier = true; d.dollarInterpolation = true
        case .c, .objc:
            d.singleQuoteChar = true; d.cPreprocessor = true
        case .cpp:
            d.singleQuoteChar = true; d.cPreprocessor = true; d.cppRawStrings = true
        case .csharp:
            d.singleQuoteChar = true; d.cPreprocessor = true; d.csharpStrings = true
        case .php:
            d.hashComments = true; d.singleQuoteString = true
        case .ruby, .shell:
            d.hashComments = true; d.slashComments = false; d.singleQuoteString = true
        default:
            d.hashComments = true; d.slashComments = false
        }
        return d
    }
}
