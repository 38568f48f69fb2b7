/// The sidecar's metric definitions and admin endpoints (filled in by issue 3/7).
public enum SidecarMetricNames {
    /// `sidecar_http_requests_total`.
    public static let httpRequestsTotal = "sidecar_http_requests_total"
}
