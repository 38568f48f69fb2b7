import Logging
import NIOCore
import NIOHTTP1

extension TunnelHandler {
    /// Takes the HTTP codecs out of both pipelines, removes `proxy`, and joins the client and
    /// upstream connections with a ``TunnelHandler`` pair, once the `101` was written.
    static func join(
        client context: ChannelHandlerContext,
        proxy: some RemovableChannelHandler,
        requestDecoder: HTTP1RequestDecoderHandler,
        upstream connection: UpstreamConnection,
        logger: Logger
    ) {
        guard let upstreamChannel = connection.channel else {
            context.close(promise: nil)
            return
        }
        do {
            // The client side now: until the upstream side is joined, its tunnel end keeps what
            // arrives (frames sent before the 101 came, handed on by the leaving decoder first)
            // and stops reading.
            let (clientSide, upstreamSide) = TunnelHandler.pair()
            let client = context.pipeline.syncOperations
            try client.addHandler(clientSide)
            client.removeHandler(proxy, promise: nil)
            requestDecoder.handOverUnreadBytes()
            client.removeHandler(requestDecoder, promise: nil)
            // The upstream side: the connection handler leaves, handing on the bytes it read past the 101.
            upstreamChannel.eventLoop.assumeIsolated().execute {
                do {
                    let upstream = upstreamChannel.pipeline.syncOperations
                    try upstream.addHandler(upstreamSide)
                    let connectionRemoved = upstreamChannel.eventLoop.makePromise(of: Void.self)
                    upstream.removeHandler(connection, promise: connectionRemoved)
                    connectionRemoved.futureResult.assumeIsolated().whenComplete { _ in
                        clientSide.partnerIsReady()
                        upstreamChannel.read()
                    }
                } catch {
                    logger.debug("cannot join the upstream to the tunnel", metadata: ["error": "\(error)"])
                    upstreamChannel.close(promise: nil)
                    context.close(promise: nil)
                }
            }
        } catch {
            logger.debug("cannot switch to a tunnel", metadata: ["error": "\(error)"])
            upstreamChannel.close(promise: nil)
            context.close(promise: nil)
        }
    }
}
