/// The sidecar's version, as `sidecar --version` prints it and `sidecar_build_info` reports it.
enum SidecarVersion {
    static let current = "0.1.0"
}
