import Foundation
import GuardianJSON
import GuardianNode
import Logging

/// The agent's log output: `text` is swift-log's stream handler on standard error; `json` writes
/// one JSON object per line (`ts`, `level`, `logger`, `msg`, then the metadata as fields) for a
/// log shipper. Chosen once per process, before anything logs.
public enum LogFormat {
    public static func bootstrap(_ config: AgentConfig) -> Logger {
        let level = Logger.Level(rawValue: config.logLevel) ?? .info // validated by AgentConfig
        if config.logFormat == "json" {
            LoggingSystem.bootstrap { label in var h = JSONLogHandler(label: label); h.logLevel = level; return h }
        } else {
            LoggingSystem.bootstrap { label in var h = StreamLogHandler.standardError(label: label); h.logLevel = level; return h }
        }
        var logger = Logger(label: "guardian")
        logger.logLevel = level
        return logger
    }
}

/// One JSON object per line on standard error. Each line is written with a single `write(2)`, so
/// lines from concurrent tasks never interleave.
public struct JSONLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let m = event.metadata { fields.merge(m) { _, new in new } }
        let line = Self.line(time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: fields, source: event.source)
        line.withUnsafeBytes { buf in _ = Foundation.write(2, buf.baseAddress, buf.count) }
    }

    /// The line's bytes, newline included, written with the project's JSON writer (its string
    /// escaping keeps a message's newline or a forged `"level"` inside its own value). The fixed
    /// keys come first; a metadata key that repeats one of them is written under `meta.` so that it
    /// cannot overwrite them.
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, source: String) -> [UInt8] {
        var w = CanonicalWriter(capacity: 256)
        w.beginObject()
        w.field("ts", Self.timestamp(time))
        w.field("level", level.rawValue)
        w.field("logger", label)
        w.field("msg", message)
        w.field("source", source)
        let fixed: Set<String> = ["ts", "level", "logger", "msg", "source"]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            w.field(fixed.contains(key) ? "meta." + key : key, value.description)
        }
        w.endObject()
        return w.out + [10]
    }

    static func timestamp(_ d: Date) -> String {
        let ms = Int64((d.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(ms % 1000))
    }
}
