import NIOCore
import NIOPosix
import Synchronization

/// Whether the upstream accepts connections, checked at most once a second (for `/readyz`).
final class UpstreamProbe: Sendable {
    private let address: UpstreamAddress
    private let group: any EventLoopGroup
    private let interval: Duration
    private let last = Mutex<(at: ContinuousClock.Instant, reachable: Bool)?>(nil)

    init(address: UpstreamAddress, group: any EventLoopGroup, interval: Duration = .seconds(1)) {
        self.address = address
        self.group = group
        self.interval = interval
    }

    /// The cached answer when it is fresh, else a new connection attempt's.
    func isReachable() async -> Bool {
        let now = ContinuousClock.now
        if let last = last.withLock({ $0 }), now - last.at < interval { return last.reachable }
        let bootstrap = ClientBootstrap(group: group).connectTimeout(.seconds(1))
        let reachable: Bool
        do {
            let channel: any Channel
            switch address {
            case .tcp(let host, let port): channel = try await bootstrap.connect(host: host, port: port).get()
            case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
            try? await channel.close()
            reachable = true
        } catch {
            reachable = false
        }
        last.withLock { $0 = (ContinuousClock.now, reachable) }
        return reachable
    }
}
