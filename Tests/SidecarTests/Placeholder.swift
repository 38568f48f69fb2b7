import Testing
@testable import Sidecar

@Test func loadsDefaults() throws {
    let configuration = try SidecarConfiguration.load(environment: [:])
    #expect(configuration.upstream == .tcp(host: "127.0.0.1", port: 8000))
}
