import Limiter
import Synchronization

/// A request with just what rules look at.
struct TestRequest: RateLimitRequest {
    var method = "GET"
    var path: Substring = "/"
    var clientAddress: ClientAddress? = "192.0.2.1"
    var host: String? = "api.example"
    var headers: [String: String] = [:]

    func firstHeader(named name: String) -> String? {
        self.headers[name.lowercased()]
    }
}

/// A clock the test moves by hand, in microseconds.
final class ManualClock: Sendable {
    private let value = Mutex<Int64>(1_000_000_000)

    var now: Int64 { self.value.withLock { $0 } }

    func advance(by microseconds: Int64) {
        self.value.withLock { $0 += microseconds }
    }
}

/// Test requests name their client in text: `TestRequest(clientAddress: "10.0.0.\(n)")`.
extension ClientAddress: ExpressibleByStringInterpolation {
    public init(stringLiteral text: String) {
        guard let address = IPAddress(parsing: text) else { fatalError("not an IP address: \(text)") }
        self.init(address)
    }
}
