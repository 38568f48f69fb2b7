import NIOCore
import NIOSSL
import X509

/// The client certificate a connection's mTLS handshake verified.
enum ClientCertificate {
    /// Its subject as an RFC 4514 string (`CN=gateway,O=Example`); `nil` without TLS or a certificate.
    ///
    /// For an HTTP/2 stream the TLS handler sits on the parent (connection) channel.
    static func subject(of channel: any Channel) -> String? {
        let connection = channel.parent ?? channel
        guard let tls = try? connection.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let certificate = tls.peerCertificate,
            let der = try? certificate.toDERBytes(),
            let parsed = try? Certificate(derEncoded: der)
        else { return nil }
        return parsed.subject.description
    }
}
