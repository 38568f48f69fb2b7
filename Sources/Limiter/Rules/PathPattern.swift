/// A path that is matched exactly, or as a prefix when written with a trailing `*`.
public struct PathPattern: Sendable, Hashable {
    /// The path, without the trailing `*` of a prefix pattern.
    public var path: String
    /// Whether the pattern was written with a trailing `*`.
    public var isPrefix: Bool

    public init(path: String, isPrefix: Bool) {
        self.path = path
        self.isPrefix = isPrefix
    }

    /// Whether `requestPath` (without its query) matches.
    @inlinable
    public func matches(_ requestPath: Substring) -> Bool {
        if isPrefix { return requestPath.utf8.starts(with: path.utf8) }
        return requestPath.utf8.elementsEqual(path.utf8)
    }
}
