/// What feeding bytes to a head parser gave.
public enum HTTP1HeadParseResult<Head: Sendable>: Sendable {
    /// The head is not complete; feed the same bytes again with more after them.
    case needMore
    /// A complete head; its `length` bytes are consumed.
    case head(Head)
    /// The bytes are not an acceptable head; answer ``HTTP1ParseError/responseStatus`` and close.
    case error(HTTP1ParseError)
}
