import Foundation
import Logging
import NIOCertificateReloading
import NIOSSL
import SidecarMetrics
import Synchronization

/// TLS termination: the one `NIOSSLContext` every connection shares, and the reloader that keeps
/// its certificate and key current.
struct TLSSetup: Sendable {
    /// Mozilla "intermediate" TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20 only.
    /// (TLS 1.3 suites are fixed by BoringSSL and are all AEAD.)
    static let intermediateCipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
    static let curves: [NIOTLSCurve] = [.x25519, .secp256r1, .secp384r1]
    /// Offered by ALPN, in order of preference.
    static let applicationProtocols = ["h2", "http/1.1"]

    /// The context of every TLS connection.
    let context: NIOSSLContext
    /// Re-reads the certificate and key every second; run it for reloads to happen.
    let reloader: TimedCertificateReloader

    /// Loads the pair (and client CA) of `files`; a problem names the variable, as configuration errors do.
    static func make(
        files: TLSFiles,
        metrics: SidecarMetricsSystem.Handles,
        logger: Logger
    ) throws(ConfigurationError) -> TLSSetup {
        let lastFailure = Mutex<String?>(nil)
        let configuration = TimedCertificateReloader.Configuration(
            refreshInterval: .seconds(1),
            certificateSource: .init(location: .file(path: files.certificateFile), format: .pem),
            privateKeySource: .init(location: .file(path: files.keyFile), format: .pem)
        ) { configuration in
            configuration.logger = nil
            configuration.onCertificateLoaded = { diff in
                lastFailure.withLock { $0 = nil }
                if let expiry = diff.currentX509CertificateChain.first?.notValidAfter {
                    metrics.certificateExpiry.set(expiry.timeIntervalSince1970)
                }
                // The reloader reports every read (each second); a pair that did not change is not news.
                if let previous = diff.previousX509CertificateChain,
                    previous != diff.currentX509CertificateChain
                        || diff.previousX509PrivateKey != diff.currentX509PrivateKey
                {
                    logger.info(
                        "TLS certificate reloaded",
                        metadata: [
                            "serial": "\(diff.currentX509CertificateChain.first?.serialNumber.description ?? "?")"
                        ]
                    )
                }
            }
            configuration.onCertificateLoadFailed = { failure in
                // The reloader retries every second: log and count each distinct failure once.
                let message = "\(failure.error)"
                let isNew = lastFailure.withLock { last in
                    defer { last = message }
                    return last != message
                }
                guard isNew else { return }
                metrics.certificateReloadErrors.increment()
                logger.error(
                    "TLS certificate or key refused; still serving the previous pair",
                    metadata: [
                        "SIDECAR_TLS_CERT_FILE": "\(files.certificateFile)", "SIDECAR_TLS_KEY_FILE": "\(files.keyFile)",
                        "error": "\(message)",
                    ]
                )
            }
        }
        let reloader: TimedCertificateReloader
        do {
            reloader = try TimedCertificateReloader.makeReloaderValidatingSources(configuration: configuration)
        } catch {
            throw ConfigurationError(problems: [
                "SIDECAR_TLS_CERT_FILE=\"\(files.certificateFile)\", SIDECAR_TLS_KEY_FILE=\"\(files.keyFile)\": "
                    + "expected a PEM certificate chain and the PEM private key that matches it: \(error)"
            ])
        }
        var tls: TLSConfiguration
        do {
            if let clientCA = files.clientCAFile {
                tls = try TLSConfiguration.makeServerConfigurationWithMTLS(
                    certificateReloader: reloader,
                    trustRoots: .file(clientCA)
                )
            } else {
                tls = try TLSConfiguration.makeServerConfiguration(certificateReloader: reloader)
            }
            tls.minimumTLSVersion = .tlsv12
            tls.maximumTLSVersion = .tlsv13
            tls.cipherSuiteValues = intermediateCipherSuites
            tls.curves = curves
            tls.applicationProtocols = applicationProtocols
            let context = try NIOSSLContext(configuration: tls)
            return TLSSetup(context: context, reloader: reloader)
        } catch {
            let variable = files.clientCAFile.map { "SIDECAR_TLS_CLIENT_CA_FILE=\"\($0)\"" } ?? "SIDECAR_TLS_CERT_FILE"
            throw ConfigurationError(problems: ["\(variable): cannot set up TLS: \(error)"])
        }
    }
}
