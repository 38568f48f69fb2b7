import Limiter
import NIOHTTP1

/// A request as the rate limiter sees it.
struct ProxiedRequest: RateLimitRequest {
    var head: ClientRequestHead
    /// The normalised target; rules match its path.
    var target: RequestTarget
    var clientAddress: ClientAddress?
    var host: String?
    var tlsSubject: String? = nil
    var claims: JWTClaims? = nil

    var method: String { head.method.rawValue }

    var path: Substring { target.pathForRules }

    func firstHeader(named name: String) -> String? {
        head.first(named: name)
    }

    func jwtClaim(named name: String) -> String? {
        claims?.values[name]
    }
}
