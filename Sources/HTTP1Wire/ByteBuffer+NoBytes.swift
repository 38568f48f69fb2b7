import NIOCore

extension ByteBuffer {
    /// An empty buffer shared by all, for letting go of a buffer's storage without allocating.
    public static let noBytes = ByteBuffer()
}
