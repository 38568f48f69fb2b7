import Logging
import Synchronization

/// Log messages kept for a test to read: `logger` writes into ``messages``.
final class CapturedLog: Sendable {
    private let lines = Mutex<[(Logger.Level, String)]>([])

    /// A logger whose messages (with their metadata) land here.
    var logger: Logger {
        Logger(label: "test.captured") { _ in Handler(log: self) }
    }

    /// Every message so far, with its metadata appended, at `level` or above.
    func messages(atLeast level: Logger.Level = .trace) -> [String] {
        self.lines.withLock { lines in lines.filter { $0.0 >= level }.map(\.1) }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let text = "\(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })"
            self.log.lines.withLock { $0.append((event.level, text)) }
        }
    }
}
