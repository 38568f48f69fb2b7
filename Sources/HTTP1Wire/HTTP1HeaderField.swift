/// One field line of a head, as offsets into the bytes it was parsed from.
public struct HTTP1HeaderField: Equatable, Hashable, Sendable {
    /// The field name's bytes.
    public var name: Range<Int>
    /// The field value's bytes, without leading and trailing whitespace.
    public var value: Range<Int>
    /// The line from the name to the end of the value (trailing whitespace and CRLF excluded).
    public var line: Range<Int> { name.lowerBound..<value.upperBound }
    /// The name, when it is one the proxy acts on.
    public var kind: HTTP1FieldKind

    /// A field at these offsets.
    public init(name: Range<Int>, value: Range<Int>, kind: HTTP1FieldKind) {
        self.name = name
        self.value = value
        self.kind = kind
    }
}
