import Synchronization

/// Generates `X-Request-ID` values: 32 lower-case hex digits.
///
/// One generator per connection (or HTTP/2 stream). Each is seeded without a system call from a
/// process-wide random key and a counter, so a new stream costs one atomic increment; the ids are
/// unique, not secret.
struct RequestIDGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// Drawn once per process from the system's random source.
    private static let processKey: (UInt64, UInt64) = {
        var system = SystemRandomNumberGenerator()
        return (system.next(), system.next())
    }()
    private static let generators = Atomic<UInt64>(0)

    init() {
        let index = Self.generators.wrappingAdd(1, ordering: .relaxed).newValue
        var seed = SplitMix64(state: Self.processKey.0 ^ (index &* 0x9E37_79B9_7F4A_7C15) ^ Self.processKey.1)
        state = (seed.next(), seed.next(), seed.next(), seed.next())
        if state == (0, 0, 0, 0) { state.0 = 1 }
    }

    /// The next id.
    mutating func next() -> String {
        let high = nextWord()
        let low = nextWord()
        return String(unsafeUninitializedCapacity: 32) { buffer in
            Self.writeHex(high, into: buffer, at: 0)
            Self.writeHex(low, into: buffer, at: 16)
            return 32
        }
    }

    /// xoshiro256**.
    private mutating func nextWord() -> UInt64 {
        let result = (state.1 &* 5).rotatedLeft(by: 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = state.3.rotatedLeft(by: 45)
        return result
    }

    private static func writeHex(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        let digits: StaticString = "0123456789abcdef"
        for index in 0..<16 {
            let nibble = Int((value >> UInt64(60 - 4 * index)) & 0xF)
            buffer[offset + index] = digits.utf8Start[nibble]
        }
    }
}

/// SplitMix64, to spread a seed over xoshiro's state.
private struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(by amount: UInt64) -> UInt64 {
        (self << amount) | (self >> (64 - amount))
    }
}
