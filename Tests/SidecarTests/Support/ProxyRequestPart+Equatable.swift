import NIOHTTP1

@testable import Sidecar

extension ClientRequestHead {
    /// The head as NIO objects, to compare heads in tests.
    var nioHead: HTTPRequestHead {
        var headers = HTTPHeaders()
        forEachField { headers.add(name: name(of: $0), value: value(of: $0)) }
        return HTTPRequestHead(version: version, method: method, uri: uri, headers: headers)
    }
}

/// Parts compare by what they carry (heads as NIO objects), for tests.
extension ProxyRequestPart: Equatable {
    public static func == (lhs: ProxyRequestPart, rhs: ProxyRequestPart) -> Bool {
        switch (lhs, rhs) {
        case (.head(let a), .head(let b)): a.nioHead == b.nioHead
        case (.body(let a), .body(let b)): a == b
        case (.end, .end): true
        default: false
        }
    }
}
