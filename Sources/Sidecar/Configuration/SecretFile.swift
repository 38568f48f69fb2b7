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

/// A path to an existing, readable file (symbolic links followed, as mounted secrets use them).
enum ReadableFile {
    static func path(_ path: String) throws(ValueProblem) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ValueProblem(
                errno == EACCES
                    ? "expected a readable file: permission denied" : "expected a readable file: no such file"
            )
        }
        guard status.st_mode & S_IFMT != S_IFDIR else {
            throw ValueProblem("expected a readable file: this is a directory")
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
