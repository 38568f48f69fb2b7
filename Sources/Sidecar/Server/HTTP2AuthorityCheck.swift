import NIOCore
import NIOHPACK
import NIOHTTP2

/// Makes a request stream's `host` header that disagrees with its `:authority` visible to the
/// proxy handler, which answers such a request 400 (RFC 9113 §8.3.1: the request is malformed).
///
/// swift-nio-http2's HTTP/1 translation keeps a `host` header and drops `:authority` when both
/// are present, so the upstream would route by a header the client's `:authority` contradicts.
/// When they differ, this adds the authority as a second `host`: the proxy refuses a request with
/// two `Host` headers, counts and logs it like any other 400.
final class HTTP2AuthorityCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        guard case .headers(var headers) = payload, let rewritten = Self.exposingConflict(headers.headers) else {
            context.fireChannelRead(data)
            return
        }
        headers.headers = rewritten
        context.fireChannelRead(wrapInboundOut(.headers(headers)))
    }

    /// `headers` with a second `host` when `host` and `:authority` disagree; `nil` when they agree.
    static func exposingConflict(_ headers: HPACKHeaders) -> HPACKHeaders? {
        let authorities = headers[canonicalForm: ":authority"]
        let hosts = headers[canonicalForm: "host"]
        guard let authority = authorities.first, !hosts.isEmpty else { return nil }
        if hosts.allSatisfy({ $0.lowercased() == authority.lowercased() }) {
            return nil
        }
        var rewritten = headers
        rewritten.add(name: "host", value: String(authority))
        return rewritten
    }
}
