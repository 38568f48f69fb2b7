/// A parsed request head: offsets into the bytes it was parsed from, and the facts the proxy acts on.
///
/// Offsets count from the first byte given to ``HTTP1RequestHeadParser/parse(_:)-(UnsafeRawBufferPointer)``.
public struct HTTP1RequestHead: Sendable {
    /// The bytes the head took, from the first byte given to the end of its empty line.
    public var length: Int
    /// The method's bytes.
    public var method: Range<Int>
    /// The request target's bytes.
    public var target: Range<Int>
    /// The form of the request target.
    public var targetForm: HTTP1TargetForm
    /// The protocol version of the start line.
    public var version: HTTP1Version
    /// The version's bytes (`HTTP/1.x`, after the target and one SP).
    public var versionBytes: Range<Int> { (target.upperBound + 1)..<(target.upperBound + 9) }
    /// Whether the method is HEAD (its response has no body).
    public var isHead: Bool
    /// Whether the method is CONNECT (the target is an authority; the proxy decides about tunnels).
    public var isConnect: Bool
    /// The field lines in order; storage shared with the parser until its next head.
    public var fields: [HTTP1HeaderField]
    /// Content-Length, Transfer-Encoding, Connection, Upgrade, Expect and Host as found.
    public var facts: HTTP1FieldFacts
    /// How the body is delimited.
    public var framing: HTTP1BodyFraming
    /// Whether the connection may carry another request after this one.
    public var isKeepAlive: Bool
}

/// The forms of a request target (RFC 9112 §3.2).
public enum HTTP1TargetForm: Equatable, Hashable, Sendable {
    /// `/path?query`.
    case origin
    /// `scheme://authority/path?query`.
    case absolute
    /// `host:port`, CONNECT only.
    case authority
    /// `*`, OPTIONS only.
    case asterisk
}
