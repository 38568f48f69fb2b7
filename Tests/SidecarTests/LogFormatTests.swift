import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import Sidecar

/// `SIDECAR_LOG_FORMAT`: JSON lines read back as JSON, text read back as text, from the handler
/// and from the executable.
@Suite("log formats", .serialized)
struct LogFormatTests {
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    static func object(_ line: Substring) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(value as? [String: Any], "not a JSON object: \(line)")
    }

    @Test func aJSONLineCarriesTimeLevelMessageAndMetadata() throws {
        let lines = Lines()
        var logger = Logger(label: "sidecar.test") { label in
            JSONLogHandler(label: label, write: { lines.append($0) })
        }
        logger[metadataKey: "connection"] = "7"
        let before = Date().timeIntervalSince1970
        logger.warning(
            "cannot connect to \"Redis\"\nretrying",
            metadata: [
                "redis": "10.0.0.1:6379", "attempts": .stringConvertible(3), "nodes": ["a", "b"],
                "limits": ["api": "10/s"], "message": "a field named like a reserved one",
            ]
        )
        let written = try #require(lines.all.first)
        #expect(lines.all.count == 1 && written.hasSuffix("}\n") && written.filter { $0 == "\n" }.count == 1)
        let object = try Self.object(written.dropLast())
        let time = try #require(object["time"] as? Double)
        #expect(abs(time - before) < 5)
        #expect(object["level"] as? String == "warning")
        #expect(object["logger"] as? String == "sidecar.test")
        #expect(object["message"] as? String == "cannot connect to \"Redis\"\nretrying")
        #expect(object["metadata_message"] as? String == "a field named like a reserved one")
        #expect(object["redis"] as? String == "10.0.0.1:6379")
        #expect(object["attempts"] as? String == "3")
        #expect(object["connection"] as? String == "7")
        #expect(object["nodes"] as? [String] == ["a", "b"])
        #expect(object["limits"] as? [String: String] == ["api": "10/s"])
    }

    /// The executable's standard error after a start and a SIGTERM, with `environment` added.
    static func standardError(_ environment: [String: String]) async throws -> String {
        let port = try await freeLoopbackPort()
        let admin = try await freeLoopbackPort()
        let sidecar = try SidecarProcess(
            environment: [
                "SIDECAR_LISTEN": "127.0.0.1:\(port)", "SIDECAR_ADMIN_LISTEN": "127.0.0.1:\(admin)",
                "SIDECAR_SHUTDOWN_GRACE": "1s",
            ].merging(environment) { $1 }
        )
        try await SidecarProcess.waitForPort(port)
        sidecar.signal(SIGTERM)
        let result = await sidecar.finish()
        #expect(result.status == 0)
        return result.errors
    }

    @Test func theExecutableWritesJSONOffATerminalAndTextWhenAsked() async throws {
        // Standard error is a pipe here, not a terminal: JSON by default, as with `json`.
        for environment in [[:], ["SIDECAR_LOG_FORMAT": "json"]] {
            let lines = try await Self.standardError(environment).split(separator: "\n")
            #expect(lines.count >= 2, "\(lines)")
            let objects = try lines.map(Self.object)
            #expect(objects.allSatisfy { $0["time"] is Double && $0["level"] is String && $0["message"] is String })
            #expect(objects.contains { $0["message"] as? String == "stopped" && $0["level"] as? String == "info" })
        }
        let text = try await Self.standardError(["SIDECAR_LOG_FORMAT": "text"]).split(separator: "\n")
        #expect(text.contains { $0.contains(" info sidecar") && $0.hasSuffix("stopped") }, "\(text)")
        #expect(text.allSatisfy { !$0.hasPrefix("{") })
    }
}
