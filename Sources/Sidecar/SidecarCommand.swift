import ArgumentParser

@main
struct SidecarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sidecar")

    func run() async throws {}
}
