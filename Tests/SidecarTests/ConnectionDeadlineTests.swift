import NIOCore
import NIOPosix
import Testing

@testable import Sidecar

/// Connection-level deadlines with real connections: every accepted connection has one.
@Suite("Connection deadlines")
struct ConnectionDeadlineTests {
    @Test func aConnectionThatSendsNothingIsClosedAfterTheHeaderTimeout() async throws {
        try await SidecarHarness.with(configure: { $0.headerTimeout = .seconds(3) }) { harness in
            let started = ContinuousClock.now
            let received = try await harness.raw("", timeout: .seconds(15))
            #expect(received.isEmpty)
            #expect(ContinuousClock.now - started >= .milliseconds(2_900))
        }
    }

    @Test func anH2CConnectionThatSendsNothingIsClosedAfterTheHeaderTimeout() async throws {
        try await SidecarHarness.with(configure: {
            $0.headerTimeout = .seconds(3)
            $0.h2c = true
        }) { harness in
            let started = ContinuousClock.now
            // Half of the HTTP/2 preface, then nothing: the sniffer cannot decide yet.
            let received = try await harness.raw("PRI * HTTP", timeout: .seconds(15))
            #expect(received.isEmpty)
            #expect(ContinuousClock.now - started >= .milliseconds(2_900))
            // The listener still serves both protocols afterwards.
            #expect(try await harness.send("/hello").status == 200)
        }
    }

    /// Slowloris: a byte every 100 ms never completes a head; each connection gets its 408 at the
    /// header deadline, long before its head would be complete.
    @Test func tricklingConnectionsAreAnsweredAtTheirHeaderDeadline() async throws {
        try await SidecarHarness.with(configure: { $0.headerTimeout = .seconds(3) }) { harness in
            let head = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + String(repeating: "a", count: 60) + "\r\n\r\n"
            let results = try await withThrowingTaskGroup(of: (response: String, sent: Int).self) { tasks in
                for _ in 0..<20 {
                    tasks.addTask {
                        try await Self.trickle(
                            head,
                            every: .milliseconds(100),
                            port: harness.port,
                            group: harness.group
                        )
                    }
                }
                return try await tasks.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 20)
            for result in results {
                #expect(result.response.hasPrefix("HTTP/1.1 408 Request Timeout"))
                #expect(result.sent < head.utf8.count / 2, "sent \(result.sent) bytes before the 408")
            }
            // Trickling clients do not hold the listener up.
            #expect(try await harness.send("/hello").status == 200)
        }
    }

    /// Sends `text` a byte every `interval` until the connection closes or `text` runs out; what
    /// came back, and how many bytes went out.
    static func trickle(
        _ text: String,
        every interval: Duration,
        port: Int,
        group: any EventLoopGroup
    ) async throws -> (response: String, sent: Int) {
        let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let sent = TestUpstream.Counter()
        let response = try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: String?.self) { tasks in
                tasks.addTask {
                    var received = ""
                    do {
                        for try await chunk in inbound { received += String(buffer: chunk) }
                    } catch {
                        // A reset after the answer: what arrived is the answer.
                    }
                    return received
                }
                tasks.addTask {
                    for byte in text.utf8 {
                        do {
                            try await outbound.write(ByteBuffer(bytes: [byte]))
                        } catch {
                            break
                        }
                        sent.value.add(1, ordering: .relaxed)
                        try await Task.sleep(for: interval)
                    }
                    return nil
                }
                while let next = try await tasks.next() {
                    if let received = next {
                        tasks.cancelAll()
                        return received
                    }
                }
                return ""
            }
        }
        return (response, sent.value.load(ordering: .relaxed))
    }
}
