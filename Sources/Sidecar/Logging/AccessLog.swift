#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// One line of JSON per request on standard output, when `SIDECAR_ACCESS_LOG=json`.
final class AccessLog: Sendable {
    /// What is known of a finished request.
    struct Entry {
        var method: String
        var path: String
        var status: Int
        var durationSeconds: Double
        var requestID: String
        var client: String?
        /// `upstream` when the upstream answered, else `sidecar`.
        var source: String
        var timeUnixSeconds: Double
    }

    init() {}

    /// Writes `entry` as one line.
    func record(_ entry: Entry) {
        var line = "{\"time\":\(Self.fixed(entry.timeUnixSeconds, digits: 6))"
        line += ",\"method\":\(LocalResponse.jsonString(entry.method))"
        line += ",\"path\":\(LocalResponse.jsonString(entry.path))"
        line += ",\"status\":\(entry.status)"
        line += ",\"duration_ms\":\(Self.fixed(entry.durationSeconds * 1000, digits: 3))"
        line += ",\"request_id\":\(LocalResponse.jsonString(entry.requestID))"
        if let client = entry.client { line += ",\"client\":\(LocalResponse.jsonString(client))" }
        line += ",\"source\":\"\(entry.source)\"}\n"
        writeLine(line, to: STDOUT_FILENO)
    }

    /// `value` with `digits` decimals, as JSON numbers are written in both logs.
    static func fixed(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (value * scale).rounded()
        let whole = Int64(scaled / scale)
        let fraction = Int64(abs(scaled) - abs(Double(whole)) * scale)
        let fractionText = String(fraction)
        return "\(whole).\(String(repeating: "0", count: max(0, digits - fractionText.count)))\(fractionText)"
    }
}

/// Writes `line` to `descriptor` in one write(2) where the kernel takes it whole, so that lines
/// written from several threads (event loops, loggers) never interleave.
func writeLine(_ line: String, to descriptor: Int32) {
    var line = line
    line.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 {
                if written < 0 && errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// The wall clock in nanoseconds since 1970.
func wallClockNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
