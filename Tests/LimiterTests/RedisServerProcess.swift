import Foundation
import Limiter
import NIOCore
import NIOPosix

/// A throw-away `redis-server` on a free local port, for one test.
final class RedisServerProcess: Sendable {
    static let executable = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static var isAvailable: Bool { executable != nil }

    let port: Int
    private let process: Process

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    /// Starts a server with no persistence and waits until it accepts connections.
    static func start(extraArguments: [String] = []) async throws -> RedisServerProcess {
        let group = MultiThreadedEventLoopGroup.singleton
        // Bind to port 0 to learn a free port, release it, and hand it to Redis.
        let probe = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable!)
        process.arguments =
            ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let server = RedisServerProcess(port: port, process: process)
        for _ in 0..<200 {
            if let channel = try? await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return server
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        server.stop()
        throw RedisError.connectionFailed(host: "127.0.0.1", port: port, reason: "redis-server did not start")
    }

    func connect(
        password: String? = nil,
        database: Int = 0,
        requestTimeout: TimeAmount = .seconds(5)
    ) async throws -> RedisConnection {
        try await RedisConnection.connect(
            configuration: .init(
                host: "127.0.0.1",
                port: self.port,
                password: password,
                database: database,
                requestTimeout: requestTimeout
            ),
            on: MultiThreadedEventLoopGroup.singleton.next()
        ).get()
    }

    func stop() {
        // SIGKILL: the child inherits the test thread's signal mask, in which SIGTERM is blocked.
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }
}
