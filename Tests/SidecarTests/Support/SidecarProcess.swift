import Foundation

/// The built `sidecar` executable, run as a child process with a given environment.
final class SidecarProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()

    /// The executable next to the test bundle, as `swift build` leaves it.
    static var executable: URL? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
                "sidecar"
            ),
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(
                ".build/debug/sidecar"
            ),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    init(arguments: [String] = [], environment: [String: String]) throws {
        guard let executable = Self.executable else { throw MissingExecutable() }
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SIDECAR_") }
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    /// Waits for the process to exit and returns its status, standard output and standard error.
    func finish() async -> (status: Int32, output: String, errors: String) {
        let output = self.output.fileHandleForReading.readDataToEndOfFile()
        let errors = self.errors.fileHandleForReading.readDataToEndOfFile()
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        return (
            process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors, as: UTF8.self)
        )
    }

    /// Peak resident memory of the running process, in bytes (`VmHWM`).
    func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits until `port` on loopback accepts connections.
    static func waitForPort(_ port: Int, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(fd)
            if connected { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw PortTimeout(port: port)
    }

    struct MissingExecutable: Error, CustomStringConvertible {
        var description: String { "the sidecar executable was not built; run swift build first" }
    }

    struct PortTimeout: Error {
        var port: Int
    }
}
