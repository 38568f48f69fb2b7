/// A parsed response head: offsets into the bytes it was parsed from, and the framing facts.
public struct HTTP1ResponseHead: Sendable {
    /// The bytes the head took, to the end of its empty line.
    public var length: Int
    /// The protocol version of the start line.
    public var version: HTTP1Version
    /// The status code, 100 to 599.
    public var status: Int
    /// The reason phrase's bytes (empty when absent).
    public var reason: Range<Int>
    /// The field lines in order; storage shared with the parser until its next head.
    public var fields: [HTTP1HeaderField]
    /// Content-Length, Transfer-Encoding, Connection and Upgrade as found.
    public var facts: HTTP1FieldFacts
    /// How the body is delimited (RFC 9112 §6.3).
    public var framing: HTTP1BodyFraming
    /// Whether the connection may carry another response after this one.
    public var isKeepAlive: Bool
    /// Whether this is an interim 1xx response other than 101; the final response follows it.
    public var isInformational: Bool { status < 200 && status != 101 }
}
