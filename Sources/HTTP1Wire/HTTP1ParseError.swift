/// Why bytes were refused as an HTTP/1 head or body; each case names the rule that failed.
public enum HTTP1ParseError: Error, Equatable, Hashable, Sendable {
    /// The head is longer than the parser's limit (431).
    case headTooLarge
    /// The head has more field lines than the parser's limit (431).
    case tooManyFields
    /// The method is not one of the known HTTP methods, or the request line is not `method SP target SP version`.
    case invalidMethod
    /// The request target has a byte outside its form's grammar, or its form does not fit the method.
    case invalidTarget
    /// The version is not exactly `HTTP/1.0` or `HTTP/1.1`.
    case invalidVersion
    /// The status line is not `HTTP/1.x SP 3DIGIT [SP reason]`.
    case invalidStatusLine
    /// A line does not end in CRLF (a bare LF, or a CR not followed by LF).
    case invalidLineEnding
    /// A field name is empty, has a non-token byte, or whitespace before the colon.
    case invalidFieldName
    /// A field value has a control byte other than HTAB.
    case invalidFieldValue
    /// A field line starts with whitespace (obs-fold, RFC 9112 §5.2).
    case obsFold
    /// A Content-Length value is not a decimal number that fits in an `Int`.
    case invalidContentLength
    /// Content-Length appears more than once (even with the same value, as llhttp).
    case duplicateContentLength
    /// Both Content-Length and Transfer-Encoding are present.
    case contentLengthWithTransferEncoding
    /// Transfer-Encoding is malformed, does not end in a single `chunked`, or is sent in HTTP/1.0.
    case invalidTransferEncoding
    /// Transfer-Encoding names a coding other than `chunked` (501 for a request).
    case unsupportedTransferCoding
    /// A chunk size is not hexadecimal, overflows, or its line is too long.
    case invalidChunkSize
    /// A chunk extension is not `;name[=token|quoted-string]`.
    case invalidChunkExtension
    /// Chunk data is not followed by CRLF.
    case invalidChunkTerminator
    /// The body is longer than the decoder's limit (413).
    case bodyTooLarge
    /// More bytes than a head may take came after a request asking to switch protocols, before the
    /// server answered it.
    case excessBytesBeforeSwitch

    /// The status a server answers this error with: 431, 413, 501 or 400.
    public var responseStatus: Int {
        switch self {
        case .headTooLarge, .tooManyFields: 431
        case .bodyTooLarge: 413
        case .unsupportedTransferCoding: 501
        default: 400
        }
    }
}
