import HTTP1Wire
import NIOHTTP1

/// A client request the HTTP/1 decoder refused, with its method and target when its request line
/// named a known method: the refusal is then counted and logged under that method.
struct ClientRequestRefusal: Error {
    /// The rule the request broke.
    var reason: HTTP1ParseError
    /// The method and target as sent, if the request line got that far.
    var requestLine: (method: String, target: String)?

    /// The answer the client gets: 400, 413, 431 or 501, with a detail naming the rule.
    var response: LocalResponse { LocalResponse(refusing: reason) }
}

extension LocalResponse {
    /// The answer to a request refused for `reason`.
    init(refusing reason: HTTP1ParseError) {
        let detail: String
        switch reason {
        case .headTooLarge, .tooManyFields:
            self = .headersTooLarge
            return
        case .bodyTooLarge:
            self = .payloadTooLarge
            return
        case .unsupportedTransferCoding:
            self = .unsupportedTransferCoding
            return
        case .invalidMethod:
            detail = "The request line is not \"method target HTTP/1.x\" with a known method."
        case .invalidTarget:
            detail =
                "The request target is not a valid origin, absolute, authority or asterisk form for its method "
                + "(RFC 9112 §3.2): a fragment, userinfo, or a byte outside visible ASCII."
        case .invalidVersion, .invalidStatusLine:
            detail = "The request's version is not HTTP/1.0 or HTTP/1.1."
        case .invalidLineEnding:
            detail = "A line of the request head does not end in CRLF."
        case .invalidFieldName:
            detail = "A header field name is empty, is not a token, or has whitespace before its colon."
        case .invalidFieldValue:
            detail = "A header field value has a control character other than horizontal tab."
        case .obsFold:
            detail = "A header field is folded over several lines (obs-fold, RFC 9112 §5.2)."
        case .invalidContentLength:
            detail = "The request's Content-Length is not a decimal number."
        case .duplicateContentLength:
            detail = "The request has more than one Content-Length."
        case .contentLengthWithTransferEncoding:
            detail = "The request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1)."
        case .invalidTransferEncoding:
            detail =
                "The request's Transfer-Encoding is malformed (empty, or chunked more than once or not last), "
                + "or it is an HTTP/1.0 request, which cannot use it (RFC 9112 §6.1)."
        case .excessBytesBeforeSwitch:
            detail = "The client sent too much after a request to switch protocols, before its answer came."
        case .invalidChunkSize, .invalidChunkExtension, .invalidChunkTerminator:
            detail = "The request's chunked body is malformed (a chunk size, extension or line end)."
        }
        self.init(status: .badRequest, detail: detail)
    }
}
