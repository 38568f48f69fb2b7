import Configuration
import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A path to an existing, readable regular file (symbolic links followed, as mounted secrets use
/// them) of a bounded size: a device such as `/dev/zero` or a huge file would be read without end.
enum ReadableFile {
    /// The largest PEM file (certificate chain, key, CA bundle, JWT key) accepted.
    static let maxBytes = 1024 * 1024
    /// The largest secret file read whole (`SIDECAR_REDIS_URL_FILE`, the sentinels' password).
    static let maxSecretBytes = 64 * 1024

    static func path(_ path: String) throws(ValueProblem) -> String {
        try checked(path, maxBytes: maxBytes, holding: "")
    }

    static func secretPath(_ path: String) throws(ValueProblem) -> String {
        try checked(path, maxBytes: maxSecretBytes, holding: " holding the secret")
    }

    private static func checked(_ path: String, maxBytes: Int, holding: String) throws(ValueProblem) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ValueProblem(
                errno == EACCES
                    ? "expected a readable file: permission denied" : "expected a readable file: no such file"
            )
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ValueProblem("expected a readable file: this is a directory")
        default: throw ValueProblem("expected a regular file\(holding), not a device or a pipe")
        }
        guard status.st_size <= maxBytes else {
            throw ValueProblem(
                "expected a file of at most \(maxBytes / 1024) KiB\(holding); it has \(status.st_size) bytes"
            )
        }
        guard access(path, R_OK) == 0 else { throw ValueProblem("expected a readable file: permission denied") }
        return path
    }
}

/// A secret file (such as `SIDECAR_REDIS_URL_FILE`'s) read by swift-configuration's `FileProvider`:
/// its whole text, trimmed, is the one value it holds, a secret, under the key it stands in for.
///
/// `DirectoryFilesProvider` does not serve here: it skips symbolic links, which is what the files
/// of a Kubernetes Secret volume are.
struct SecretFileSnapshot: FileConfigSnapshot {
    struct ParsingOptions: FileParsingOptions {
        /// The key the file's text is the value of.
        var key: AbsoluteConfigKey

        static var `default`: ParsingOptions { ParsingOptions(key: AbsoluteConfigKey([])) }
    }

    /// The file holds bytes that are not UTF-8 text.
    struct NotUTF8Text: Error {}

    let providerName: String
    let key: AbsoluteConfigKey
    let text: String

    init(data: RawSpan, providerName: String, parsingOptions: ParsingOptions) throws {
        guard let text = data.withUnsafeBytes({ String(validating: $0, as: UTF8.self) }) else {
            throw NotUTF8Text()
        }
        self.providerName = providerName
        self.key = parsingOptions.key
        self.text = text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        let found = key == self.key && type == .string
        return LookupResult(
            encodedKey: key.description,
            value: found ? ConfigValue(.string(text), isSecret: true) : nil
        )
    }

    var description: String { "\(providerName)[\(key)]" }
    var debugDescription: String { "\(providerName)[\(key)=<redacted>]" }

    /// The provider of the file at `path`, answering for `key`.
    static func provider(path: String, key: ConfigKey) async throws -> FileProvider<SecretFileSnapshot> {
        try await FileProvider(parsingOptions: ParsingOptions(key: AbsoluteConfigKey(key)), filePath: FilePath(path))
    }
}
