/// Maps request paths onto the bounded set of `route` label values (`SIDECAR_METRICS_ROUTES`).
///
/// A route is written like a rule's path: exact (`/health`) or a prefix ending in `*` (`/jobs/*`).
/// The first matching route names the request; every other path is `other`, so the label's
/// cardinality stays bounded whatever paths clients send.
public struct RouteClassifier: Sendable {
    /// The label values, in order; the last one is `other`.
    public let labels: [String]
    private let routes: [(path: String, isPrefix: Bool)]

    /// `routes` as written in `SIDECAR_METRICS_ROUTES`.
    public init(routes: [String]) {
        self.routes = routes.map { route in
            route.hasSuffix("*") ? (String(route.dropLast()), true) : (route, false)
        }
        self.labels = routes + ["other"]
    }

    /// The index into ``labels`` of `path` (without its query).
    public func route(of path: Substring) -> Int {
        for (index, route) in routes.enumerated() {
            if route.isPrefix ? path.utf8.starts(with: route.path.utf8) : path.utf8.elementsEqual(route.path.utf8) {
                return index
            }
        }
        return routes.count
    }
}
