import NIOCore
import NIOHTTP1

/// A response the sidecar makes itself (an error or a rate-limit denial), as `application/problem+json`.
struct LocalResponse: Sendable, Equatable {
    /// The status sent.
    var status: HTTPResponseStatus
    /// Extra headers, such as `Retry-After` or rate-limit fields.
    var headers: [(String, String)]
    /// One sentence for the problem's `detail`.
    var detail: String
    /// Extra members of the problem object, already JSON-encoded values.
    var extraMembers: [(String, String)]

    init(
        status: HTTPResponseStatus,
        detail: String,
        headers: [(String, String)] = [],
        extraMembers: [(String, String)] = []
    ) {
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extraMembers = extraMembers
    }

    static func == (lhs: LocalResponse, rhs: LocalResponse) -> Bool {
        lhs.status == rhs.status && lhs.detail == rhs.detail
            && lhs.headers.elementsEqual(rhs.headers, by: ==)
            && lhs.extraMembers.elementsEqual(rhs.extraMembers, by: ==)
    }

    /// The problem+json body.
    func body(allocator: ByteBufferAllocator) -> ByteBuffer {
        var json = "{\"type\":\"about:blank\",\"title\":\(Self.jsonString(status.reasonPhrase)),"
        json += "\"status\":\(status.code),\"detail\":\(Self.jsonString(detail))"
        for (name, value) in extraMembers { json += ",\(Self.jsonString(name)):\(value)" }
        json += "}"
        return allocator.buffer(string: json)
    }

    /// Calls `field` with each field of the head for a body of `bodyLength` bytes, in order;
    /// `Connection: close` when `close` is set.
    func forEachHeadField(bodyLength: Int, requestID: String, close: Bool, _ field: (String, String) -> Void) {
        field("Content-Type", "application/problem+json")
        field("Content-Length", String(bodyLength))
        for (name, value) in headers { field(name, value) }
        field("X-Request-ID", requestID)
        if close { field("Connection", "close") }
    }

    /// `string` as a JSON string literal.
    static func jsonString(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension LocalResponse {
    static let unsupportedTransferCoding = LocalResponse(
        status: .notImplemented,
        detail: "The request's Transfer-Encoding names a coding other than chunked, the only one supported."
    )
    static let requestTimeout = LocalResponse(
        status: .requestTimeout,
        detail: "The request headers did not arrive in time."
    )
    static let headersTooLarge = LocalResponse(
        status: .requestHeaderFieldsTooLarge,
        detail: "The request headers are larger than this server accepts."
    )
    static let payloadTooLarge = LocalResponse(
        status: .payloadTooLarge,
        detail: "The request body is larger than this server accepts."
    )
    static let badGateway = LocalResponse(
        status: .badGateway,
        detail: "The upstream refused the connection or closed it before answering."
    )
    static let gatewayTimeout = LocalResponse(
        status: .gatewayTimeout,
        detail: "The upstream did not answer in time."
    )
    static let upstreamPoolExhausted = LocalResponse(
        status: .serviceUnavailable,
        detail:
            "Every upstream connection this event loop may open (SIDECAR_UPSTREAM_MAX_CONNECTIONS) stayed busy until the queue deadline.",
        headers: [("Retry-After", "1")]
    )
    static let serviceUnavailable = LocalResponse(
        status: .serviceUnavailable,
        detail: "The rate limiter is unavailable and its failure mode is closed."
    )
}
