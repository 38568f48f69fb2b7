import Limiter
import NIOCore
import Testing

private func decodeAll(_ text: String) throws -> [RESPValue] {
    let reader = RESPReader()
    try reader.feed(Array(text.utf8))
    var values: [RESPValue] = []
    while let value = try reader.next() { values.append(value) }
    return values
}

@Test func decodesEveryReplyType() throws {
    let values = try decodeAll(
        "+OK\r\n-ERR wrong\r\n:-42\r\n$3\r\nfoo\r\n$-1\r\n$0\r\n\r\n*0\r\n*-1\r\n*2\r\n*1\r\n:1\r\n$2\r\nhi\r\n"
    )
    #expect(
        values == [
            .simpleString("OK"),
            .error("ERR wrong"),
            .integer(-42),
            .bulkString(Array("foo".utf8)),
            .bulkString(nil),
            .bulkString([]),
            .array([]),
            .bulkString(nil),  // hiredis 0.14 reports a null array as nil
            .array([.array([.integer(1)]), .bulkString(Array("hi".utf8))]),
        ]
    )
}

@Test func bulkStringsKeepAnyBytes() throws {
    let reader = RESPReader()
    let payload: [UInt8] = [0, 13, 10, 255, 36]
    try reader.feed(Array("$5\r\n".utf8) + payload + Array("\r\n".utf8))
    #expect(try reader.next() == .bulkString(payload))
}

@Test func repliesSplitAcrossReadsComeOutWhole() throws {
    let reader = RESPReader()
    let bytes = Array("*3\r\n:1\r\n$5\r\nhello\r\n+OK\r\n:7\r\n".utf8)
    var values: [RESPValue] = []
    for byte in bytes {
        try reader.feed([byte])
        while let value = try reader.next() { values.append(value) }
    }
    #expect(values == [.array([.integer(1), .bulkString(Array("hello".utf8)), .simpleString("OK")]), .integer(7)])
}

@Test func garbageIsAnErrorNotACrash() throws {
    for garbage in ["?what\r\n", ":12x\r\n", "$abc\r\n"] {
        let reader = RESPReader()
        #expect(throws: RedisError.self) {
            try reader.feed(Array(garbage.utf8))
            _ = try reader.next()
        }
        // The reader stays failed.
        #expect(throws: RedisError.self) { _ = try reader.next() }
    }
}

@Test func commandsAreFormattedAsBulkStringArrays() throws {
    var command = RESPCommand(name: "SET", argumentCount: 5)
    #expect(!command.isComplete)
    command.append(bytes: [0, 13, 10])
    command.append(bytes: [])
    command.append(-1_234_567_890_123)
    command.append("ü")
    #expect(command.isComplete)
    #expect(
        Array(command.bytes.readableBytesView) == Array("*5\r\n$3\r\nSET\r\n$3\r\n".utf8) + [0, 13, 10]
            + Array("\r\n$0\r\n\r\n$14\r\n-1234567890123\r\n$2\r\nü\r\n".utf8)
    )
    for value in [0, 9, 10, Int.max, Int.min] {
        var number = RESPCommand(name: "X", argumentCount: 2)
        number.append(value)
        let text = String(value)
        #expect(String(buffer: number.bytes) == "*2\r\n$1\r\nX\r\n$\(text.utf8.count)\r\n\(text)\r\n")
    }
    #expect(RESPCommand("GET", "k") == RESPCommand(["GET", "k"]))
}

@Test func gcraRepliesParseOrFailTyped() throws {
    let one = [GCRACheck(cost: 1, keyIndices: [0, 1])]
    let good = RESPValue.array([.integer(1), .integer(4), .integer(0), .integer(100), .integer(1), .integer(0)])
    #expect(
        try RedisGCRAExecutor.reply(from: good, checks: one, keyCount: 2)
            == GCRAScriptReply(results: [
                GCRACheckResult(
                    allowed: true,
                    remaining: 4,
                    retryAfterMicroseconds: 0,
                    resetMicroseconds: 100,
                    limitingSpend: 1
                )
            ])
    )
    // A shadow spend's flag follows the five integers; damaged keys come last.
    let withShadow = [GCRACheck(spends: [.init(keyIndex: 0, cost: 1)], shadowSpends: [.init(keyIndex: 1, cost: 2)])]
    let shadowReply = RESPValue.array(
        [.integer(1), .integer(4), .integer(0), .integer(100), .integer(0), .integer(0), .integer(1), .integer(1)]
    )
    #expect(
        try RedisGCRAExecutor.reply(from: shadowReply, checks: withShadow, keyCount: 2)
            == GCRAScriptReply(
                results: [
                    GCRACheckResult(
                        allowed: true,
                        remaining: 4,
                        retryAfterMicroseconds: 0,
                        resetMicroseconds: 100,
                        shadowSpent: [false]
                    )
                ],
                damagedKeyIndices: [1]
            )
    )
    // The largest remaining a rule can have is far above 2^31 − 1: no longer refused.
    let large = RESPValue.array([
        .integer(1), .integer(3_000_000_000), .integer(0), .integer(1), .integer(0), .integer(0),
    ])
    #expect(
        try RedisGCRAExecutor.reply(from: large, checks: one, keyCount: 2).results.first?.remaining == 3_000_000_000
    )
    let bad: [RESPValue] = [
        .integer(1),
        .array([.integer(1), .integer(4), .integer(0), .integer(1), .integer(0)]),
        .array([.integer(1), .integer(4), .integer(0), .integer(1)]),
        .array([.integer(2), .integer(4), .integer(0), .integer(1), .integer(0), .integer(0)]),
        .array([.integer(1), .bulkString([49]), .integer(0), .integer(1), .integer(0), .integer(0)]),
        .array([.integer(1), .integer(4), .integer(0), .integer(1), .integer(-1), .integer(0)]),
        .array([.integer(1), .integer(4), .integer(0), .integer(1), .integer(2), .integer(0)]),
        .array([.integer(1), .integer(4), .integer(0), .integer(1), .integer(0), .integer(1), .integer(2)]),
        .array([.integer(1), .integer(4), .integer(0), .integer(1), .integer(0), .integer(0), .integer(0)]),
        .array(nil),
    ]
    for reply in bad {
        #expect(throws: RedisError.self) { try RedisGCRAExecutor.reply(from: reply, checks: one, keyCount: 2) }
    }
}
