import Limiter
import NIOCore
import NIOHTTP1

/// Rate-limit fields on responses, per `SIDECAR_RATELIMIT_HEADERS`.
///
/// `draft` follows draft-ietf-httpapi-ratelimit-headers-11: `RateLimit-Policy: "<rule>";q=<count>;w=<seconds>`
/// and `RateLimit: "<rule>";r=<remaining>;t=<seconds until full>`; `legacy` sends `X-RateLimit-*`.
struct RateLimitResponseHeaders: Sendable {
    var mode: RateLimitHeaderMode

    /// Adds the fields describing `policy` to `headers`.
    func add(_ policy: RateLimitPolicyState, to headers: inout HTTPHeaders) {
        forEachField(of: policy) { headers.add(name: $0, value: $1) }
    }

    /// Calls `body` with each field describing `policy`.
    func forEachField(of policy: RateLimitPolicyState, _ body: (String, String) -> Void) {
        let reset = Self.wholeSecondsRoundedUp(policy.resetMicroseconds)
        if mode == .draft || mode == .both {
            body("RateLimit-Policy", "\"\(policy.rule)\";q=\(policy.quota);w=\(policy.windowSeconds)")
            body("RateLimit", "\"\(policy.rule)\";r=\(policy.remaining);t=\(reset)")
        }
        if mode == .legacy || mode == .both {
            body("X-RateLimit-Limit", String(policy.quota))
            body("X-RateLimit-Remaining", String(policy.remaining))
            body("X-RateLimit-Reset", String(reset))
        }
    }

    /// Writes the field lines describing `policy` into `bytes`, piece by piece (no string is built).
    func write(_ policy: RateLimitPolicyState, into bytes: inout ByteBuffer) {
        let reset = Self.wholeSecondsRoundedUp(policy.resetMicroseconds)
        if mode == .draft || mode == .both {
            bytes.writeStaticString("RateLimit-Policy: \"")
            bytes.writeString(policy.rule)
            bytes.writeStaticString("\";q=")
            bytes.writeString(String(policy.quota))
            bytes.writeStaticString(";w=")
            bytes.writeString(String(policy.windowSeconds))
            bytes.writeStaticString("\r\nRateLimit: \"")
            bytes.writeString(policy.rule)
            bytes.writeStaticString("\";r=")
            bytes.writeString(String(policy.remaining))
            bytes.writeStaticString(";t=")
            bytes.writeString(String(reset))
            bytes.writeStaticString("\r\n")
        }
        if mode == .legacy || mode == .both {
            bytes.writeStaticString("X-RateLimit-Limit: ")
            bytes.writeString(String(policy.quota))
            bytes.writeStaticString("\r\nX-RateLimit-Remaining: ")
            bytes.writeString(String(policy.remaining))
            bytes.writeStaticString("\r\nX-RateLimit-Reset: ")
            bytes.writeString(String(reset))
            bytes.writeStaticString("\r\n")
        }
    }

    /// The 429 answer for a denial.
    func denial(_ policy: RateLimitPolicyState) -> LocalResponse {
        let retryAfter = max(1, Self.wholeSecondsRoundedUp(policy.retryAfterMicroseconds))
        var fields = HTTPHeaders()
        add(policy, to: &fields)
        var headers: [(String, String)] = [("Retry-After", String(retryAfter))]
        headers.append(contentsOf: fields.map { ($0.name, $0.value) })
        return LocalResponse(
            status: .tooManyRequests,
            detail: "Rate limit \"\(policy.rule)\" exceeded; retry after \(retryAfter) s.",
            headers: headers,
            extraMembers: [("rule", LocalResponse.jsonString(policy.rule)), ("retry_after", String(retryAfter))]
        )
    }

    /// Microseconds as whole seconds, rounded up.
    static func wholeSecondsRoundedUp(_ microseconds: Int64) -> Int64 {
        microseconds <= 0 ? 0 : (microseconds + 999_999) / 1_000_000
    }
}
