import Foundation
import Limiter
import NIOCore
import NIOPosix

/// A throw-away `redis-server` on a free local port, for one test.
public final class RedisServerProcess: Sendable {
    public static let executable = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    public static var isAvailable: Bool { executable != nil }

    public let port: Int
    private let process: Process

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    /// Starts a server with no persistence (on `port`, else a free one) and waits until it accepts connections.
    public static func start(
        port requested: Int? = nil,
        extraArguments: [String] = []
    ) async throws
        -> RedisServerProcess
    {
        let group = MultiThreadedEventLoopGroup.singleton
        let port: Int
        if let requested { port = requested } else { port = try await freeLoopbackPort() }
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

    public func connect(
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

    /// Sends `signal` to the server (`SIGSTOP` freezes it, `SIGCONT` resumes it).
    public func signal(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    public func stop() {
        // SIGKILL: the child inherits the test thread's signal mask, in which SIGTERM is blocked.
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }
}

/// A loopback port that was free a moment ago: bound to port 0, then released.
public func freeLoopbackPort() async throws -> Int {
    let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0)
        .get()
    let port = probe.localAddress!.port!
    try await probe.close()
    return port
}
