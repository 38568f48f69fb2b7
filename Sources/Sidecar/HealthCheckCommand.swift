import ArgumentParser
import NIOCore
import NIOPosix

extension SidecarCommand {
    /// Asks the running sidecar's `/healthz` on the admin port: exit 0 when it answers 200.
    ///
    /// For container health checks in images without a shell or curl.
    struct HealthCheck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "healthcheck",
            abstract: "Exit 0 when the sidecar on this host answers 200 on /healthz (admin port), else 1."
        )

        func run() async throws {
            let configuration = try await loadConfigurationOrExit()
            let host =
                ["0.0.0.0", "::", ""].contains(configuration.adminListen.host)
                ? "127.0.0.1" : configuration.adminListen.host
            let healthy = await Self.isHealthy(host: host, port: configuration.adminListen.port)
            if !healthy { throw ExitCode(1) }
        }

        /// Whether `GET /healthz` on `host:port` answers `HTTP/1.1 200` within two seconds.
        static func isHealthy(host: String, port: Int) async -> Bool {
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(2))
                    .connect(host: host, port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
                return try await withThrowingTaskGroup(of: Bool.self) { tasks in
                    tasks.addTask {
                        try await channel.executeThenClose { inbound, outbound in
                            try await outbound.write(
                                ByteBuffer(
                                    string: "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                                )
                            )
                            var received = ""
                            for try await chunk in inbound {
                                received += String(buffer: chunk)
                                if received.contains("\r\n") { break }
                            }
                            return received.hasPrefix("HTTP/1.1 200")
                        }
                    }
                    tasks.addTask {
                        try await Task.sleep(for: .seconds(2))
                        return false
                    }
                    let first = try await tasks.next() ?? false
                    tasks.cancelAll()
                    return first
                }
            } catch {
                return false
            }
        }
    }
}
