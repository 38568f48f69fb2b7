import NIOCore

extension ByteBuffer {
    /// An empty buffer shared by all, for letting go of a buffer's storage without allocating.
    public static let noBytes = ByteBuffer()

    /// The bytes at `range`, offsets from the reader index as the parsers record them, as text
    /// (invalid UTF-8 repaired).
    public func string(at range: Range<Int>) -> String {
        getString(at: readerIndex + range.lowerBound, length: range.count) ?? ""
    }
}
