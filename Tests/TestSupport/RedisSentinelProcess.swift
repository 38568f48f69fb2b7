import Foundation
import NIOCore
import NIOPosix

/// A throw-away Redis Sentinel (`redis-server <config> --sentinel`) watching one master, for one test.
public final class RedisSentinelProcess: Sendable {
    public let port: Int
    private let process: Process
    private let directory: URL

    private init(port: Int, process: Process, directory: URL) {
        self.port = port
        self.process = process
        self.directory = directory
    }

    /// Starts a sentinel that watches `masterName` at `127.0.0.1:masterPort`, deems it down after
    /// `downAfterMilliseconds` and fails over when `quorum` sentinels agree.
    public static func start(
        masterName: String,
        masterPort: Int,
        quorum: Int,
        downAfterMilliseconds: Int = 1000
    ) async throws -> RedisSentinelProcess {
        guard let executable = RedisServerProcess.executable else { throw CocoaError(.executableNotLoadable) }
        let port = try await freeLoopbackPort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sidecar-sentinel-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configuration = directory.appendingPathComponent("sentinel.conf")
        try """
        port \(port)
        bind 127.0.0.1
        dir \(directory.path)
        sentinel monitor \(masterName) 127.0.0.1 \(masterPort) \(quorum)
        sentinel down-after-milliseconds \(masterName) \(downAfterMilliseconds)
        sentinel failover-timeout \(masterName) 5000
        sentinel parallel-syncs \(masterName) 1

        """.write(to: configuration, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [configuration.path, "--sentinel"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let sentinel = RedisSentinelProcess(port: port, process: process, directory: directory)
        for _ in 0..<200 {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            {
                try? await channel.close()
                return sentinel
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        sentinel.stop()
        throw CocoaError(.executableLoad)
    }

    public func stop() {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: self.directory)
    }
}
