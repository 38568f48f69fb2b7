import Foundation
import Limiter

/// A throw-away Redis Cluster of `masters` masters, each with `replicasPerMaster` replicas, on free
/// loopback ports, made with `redis-cli --cluster create`, for one test.
public final class RedisClusterProcess: Sendable {
    public let servers: [RedisServerProcess]
    private let directory: URL

    private init(servers: [RedisServerProcess], directory: URL) {
        self.servers = servers
        self.directory = directory
    }

    public static let redisCLI = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    public static func start(masters: Int = 3, replicasPerMaster: Int = 0) async throws -> RedisClusterProcess {
        guard let redisCLI else { throw CocoaError(.executableNotLoadable) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sidecar-cluster-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var servers: [RedisServerProcess] = []
        do {
            for index in 0..<masters * (1 + replicasPerMaster) {
                // The cluster bus listens on the port + 10000, which must be a port too.
                var port = try await freeLoopbackPort()
                while port > 55_000 { port = try await freeLoopbackPort() }
                servers.append(
                    try await RedisServerProcess.start(
                        port: port,
                        extraArguments: [
                            "--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(index).conf",
                            "--cluster-node-timeout", "2000", "--dir", directory.path,
                        ]
                    )
                )
            }
            let create = Process()
            create.executableURL = URL(fileURLWithPath: redisCLI)
            create.arguments =
                ["--cluster", "create"] + servers.map { "127.0.0.1:\($0.port)" } + [
                    "--cluster-replicas", "\(replicasPerMaster)", "--cluster-yes",
                ]
            create.standardOutput = FileHandle.nullDevice
            create.standardError = FileHandle.nullDevice
            try create.run()
            create.waitUntilExit()
            guard create.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
            // The slots are assigned; every node answers only once it sees the cluster whole.
            for server in servers { try await waitUntilClusterIsOK(server) }
            if replicasPerMaster > 0 {
                try await waitForReplicas(servers, count: masters * replicasPerMaster)
            }
        } catch {
            for server in servers { server.stop() }
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        return RedisClusterProcess(servers: servers, directory: directory)
    }

    /// Waits until every node sees `count` replicas and each replica has synced with its master
    /// (only then can it be promoted).
    private static func waitForReplicas(_ servers: [RedisServerProcess], count: Int) async throws {
        let cluster = RedisClusterProcess(servers: servers, directory: URL(fileURLWithPath: "/"))
        for _ in 0..<400 {
            var ready = true
            for server in servers {
                let nodes = try await cluster.nodes(asking: server)
                if nodes.filter({ $0.role == "slave" }).count != count { ready = false }
                if nodes.contains(where: { $0.port == server.port && $0.role == "slave" }) {
                    let connection = try await server.connect()
                    let info = try await connection.send("INFO", "replication").get()
                    _ = connection.close()
                    if case .bulkString(let bytes?) = info,
                        !String(decoding: bytes, as: UTF8.self).contains("master_link_status:up")
                    {
                        ready = false
                    }
                }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisError.connectionFailed(host: "127.0.0.1", port: servers[0].port, reason: "the replicas did not sync")
    }

    private static func waitUntilClusterIsOK(_ server: RedisServerProcess) async throws {
        let connection = try await server.connect()
        defer { _ = connection.close() }
        for _ in 0..<200 {
            if case .bulkString(let bytes?) = try await connection.send("CLUSTER", "INFO").get(),
                String(decoding: bytes, as: UTF8.self).contains("cluster_state:ok")
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisError.connectionFailed(host: "127.0.0.1", port: server.port, reason: "the cluster did not become ok")
    }

    /// Runs `redis-cli` with `arguments`; throws when it fails.
    public static func cli(_ arguments: [String]) throws {
        guard let redisCLI else { throw CocoaError(.executableNotLoadable) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: redisCLI)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
    }

    /// Each live node's port, id, role (`master` or `slave`) and, for a replica, its master's id,
    /// from `CLUSTER NODES` asked of `server`.
    public func nodes(
        asking server: RedisServerProcess
    ) async throws -> [(port: Int, id: String, role: String, master: String?)] {
        let connection = try await server.connect()
        defer { _ = connection.close() }
        guard case .bulkString(let bytes?) = try await connection.send("CLUSTER", "NODES").get() else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 8, !fields[2].contains("fail"), let colon = fields[1].lastIndex(of: ":"),
                let port = Int(fields[1][fields[1].index(after: colon)...].prefix { $0.isNumber })
            else { return nil }
            let master = fields[3] == "-" ? nil : String(fields[3])
            return (port, String(fields[0]), fields[2].contains("master") ? "master" : "slave", master)
        }
    }

    /// The servers that are masters now, as `server` sees them.
    public func masters(asking server: RedisServerProcess? = nil) async throws -> [RedisServerProcess] {
        let roles = try await nodes(asking: server ?? servers[0])
        return servers.filter { server in roles.contains { $0.port == server.port && $0.role == "master" } }
    }

    public func stop() {
        for server in servers { server.stop() }
        try? FileManager.default.removeItem(at: directory)
    }
}
