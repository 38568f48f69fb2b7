import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// swift-log's handler for `SIDECAR_LOG_FORMAT=json`: one JSON object per line on standard error,
/// with `time` (seconds since 1970, as the access log writes it), `level`, `logger` (the label),
/// `source` (the module), `message`, `error` when one is logged, then the metadata as fields (a field named like one of
/// those gets the prefix `metadata_`).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// Where lines go: standard error, or a test's capture.
    private let write: @Sendable (String) -> Void

    init(
        label: String,
        metadataProvider: Logger.MetadataProvider? = nil,
        write: @escaping @Sendable (String) -> Void = JSONLogHandler.writeToStandardError
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let reservedFields: Set<String> = ["time", "level", "logger", "source", "message", "error"]

    func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let explicit = event.metadata { fields.merge(explicit) { $1 } }
        var text = "{\"time\":\(AccessLog.fixed(Double(wallClockNanoseconds()) / 1e9, digits: 6))"
        text += ",\"level\":\"\(event.level.rawValue)\""
        text += ",\"logger\":\(LocalResponse.jsonString(label))"
        text += ",\"source\":\(LocalResponse.jsonString(event.source))"
        text += ",\"message\":\(LocalResponse.jsonString(event.message.description))"
        if let error = event.error { text += ",\"error\":\(LocalResponse.jsonString(String(describing: error)))" }
        for key in fields.keys.sorted() {
            let name = Self.reservedFields.contains(key) ? "metadata_" + key : key
            text += ",\(LocalResponse.jsonString(name)):\(Self.json(fields[key]!))"
        }
        write(text + "}\n")
    }

    /// `value` as JSON: strings as strings, lists as arrays, dictionaries as objects.
    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return LocalResponse.jsonString(text)
        case .stringConvertible(let convertible): return LocalResponse.jsonString(convertible.description)
        case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let entries):
            let members = entries.keys.sorted().map { "\(LocalResponse.jsonString($0)):\(json(entries[$0]!))" }
            return "{" + members.joined(separator: ",") + "}"
        }
    }

    @Sendable static func writeToStandardError(_ line: String) {
        writeLine(line, to: STDERR_FILENO)
    }
}
