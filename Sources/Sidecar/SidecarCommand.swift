import ArgumentParser
import Foundation
import Limiter
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SidecarMetrics

@main
struct SidecarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sidecar",
        abstract: "A rate-limiting, TLS-terminating reverse proxy beside an HTTP API gateway.",
        discussion: "Configured with SIDECAR_* environment variables; see the README.",
        version: SidecarVersion.current,
        subcommands: [Serve.self, Check.self, HealthCheck.self],
        defaultSubcommand: Serve.self
    )
}

/// Exit status for a bad configuration (EX_CONFIG).
let exitConfigurationError: Int32 = 78

/// Loads the configuration from the process environment, or prints every problem and exits 78.
func loadConfigurationOrExit() async throws -> SidecarConfiguration {
    do {
        return try await SidecarConfiguration.load(environment: ProcessInfo.processInfo.environment)
    } catch {
        throw exitForConfiguration(error)
    }
}

/// Prints `error`'s problems to standard error; the exit (status 78) to throw.
func exitForConfiguration(_ error: ConfigurationError) -> ExitCode {
    var standardError = FileHandle.standardError
    print("sidecar: invalid configuration:", to: &standardError)
    for problem in error.problems { print("  \(problem)", to: &standardError) }
    return ExitCode(exitConfigurationError)
}

extension SidecarCommand {
    /// Runs the proxy until SIGTERM or SIGINT, then drains.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the proxy (the default).")

        func run() async throws {
            let configuration = try await loadConfigurationOrExit()
            let level = configuration.logLevel
            switch configuration.logFormat {
            case .text:
                LoggingSystem.bootstrap { label in
                    var handler = StreamLogHandler.standardError(label: label)
                    handler.logLevel = level
                    return handler
                }
            case .json:
                LoggingSystem.bootstrap { label in
                    var handler = JSONLogHandler(label: label)
                    handler.logLevel = level
                    return handler
                }
            }
            let logger = Logger(label: "sidecar")
            let jwt: JWTClaimVerifier?
            do {
                jwt = try await JWTSetup.verifier(for: configuration)
            } catch {
                throw exitForConfiguration(error)
            }
            let metrics = SidecarMetricsSystem.bootstrap(version: SidecarVersion.current)
            var tls: TLSSetup?
            if let files = configuration.tls {
                do {
                    tls = try TLSSetup.make(files: files, metrics: metrics, logger: logger)
                } catch {
                    throw exitForConfiguration(error)
                }
            }
            let service = SidecarService(
                configuration: configuration,
                jwt: jwt,
                tls: tls,
                metrics: metrics,
                logger: logger
            )
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: service)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
    }

    /// Validates the environment and prints the effective configuration.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate SIDECAR_* variables and print the effective configuration."
        )

        func run() async throws {
            let configuration = try await loadConfigurationOrExit()
            for line in configuration.effectiveLines() { print(line) }
        }
    }
}

extension FileHandle: @retroactive TextOutputStream {
    public func write(_ string: String) {
        write(Data(string.utf8))
    }
}
