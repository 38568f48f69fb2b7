import Foundation
import HTTP1Wire
import Testing

/// Our request parser against NIO's llhttp-based decoder on generated and mutated requests: ours
/// may refuse what NIO accepts (counted), never the other way round, and when both accept they
/// agree on method, target, fields, body bytes, chunk boundaries, trailers and keep-alive. The
/// proxy's ``HTTP1RequestDecoder``, fed in random pieces, agrees with our parsers on every case.
@Suite struct RequestDifferentialTests {
    static let cases = 5000

    @Test func agreesWithNIOOrIsStricter() {
        let seed = ProcessInfo.processInfo.environment["HTTP1WIRE_SEED"].flatMap { UInt64($0) } ?? 0x5EED_2026
        var generator = MessageCaseGenerator(seed: seed)
        var parser = HTTP1RequestHeadParser()
        var splitParser = HTTP1RequestHeadParser()
        var tally = (bothAccept: 0, bothRefuse: 0, stricter: 0, stricterKeepAlive: 0)
        var stricterReasons: [String: Int] = [:]
        var stricterExamples: [String] = []
        var disagreements: [String] = []
        for index in 0..<Self.cases {
            let valid = generator.validRequest()
            let input = index % 5 == 0 ? valid : generator.mutated(valid)
            let pieces = (0..<8).map { _ in generator.random.int(1...12) }
            parser.reset()
            splitParser.reset()
            let (ours, details) = decodeWithWire(input, parser: &parser)
            let (oursSplit, _) = decodeWithWire(input, pieces: pieces, parser: &splitParser)
            let (nio, nioBodyParts) = decodeWithNIO(input)
            let report = { (problem: String) in
                disagreements.append(
                    "seed \(seed) case \(index): \(problem)\n  input: \(String(decoding: input, as: UTF8.self).debugDescription)"
                        + "\n  ours: \(ours)\n  nio:  \(nio)"
                )
            }
            if ours != oursSplit {
                report("split feeding gave \(oursSplit)")
                continue
            }
            // The proxy's decoder, fed in pieces, decodes the same request or refuses it for the same reason.
            let decoded = decodeWithRequestDecoder(input, pieces: pieces)
            switch (ours, decoded) {
            case (.accepted(let mine), .accepted(let proxy)):
                var expected = mine
                expected.trailers = []
                if expected != proxy { report("HTTP1RequestDecoder gave \(proxy)") }
            case (.rejected, .rejected(let reason)):
                if reason != details.error.map({ "\($0)" }) { report("HTTP1RequestDecoder refused for \(reason)") }
            case (.incomplete, .incomplete):
                break
            default:
                report("HTTP1RequestDecoder gave \(decoded)")
            }
            switch (ours.request, nio.request) {
            case (let mine?, let theirs?):
                tally.bothAccept += 1
                if mine.isKeepAlive != theirs.isKeepAlive {
                    if mine.isKeepAlive {
                        report("keep-alive where NIO closes")
                    } else {
                        tally.stricterKeepAlive += 1
                    }
                }
                var mineComparable = mine
                var theirsComparable = theirs
                for request in [\DecodedRequest.fields, \DecodedRequest.trailers] {
                    mineComparable[keyPath: request] = mine[keyPath: request].map(Self.trimmed)
                    theirsComparable[keyPath: request] = theirs[keyPath: request].map(Self.trimmed)
                }
                theirsComparable.isKeepAlive = mine.isKeepAlive
                if mineComparable != theirsComparable { report("both accept, differently") }
                if details.head?.framing == .chunked, details.chunkSizes != nioBodyParts {
                    report("chunk boundaries \(details.chunkSizes), NIO's \(nioBodyParts)")
                }
            case (_?, nil):
                report("ours accepts, NIO refuses")
            case (nil, _?):
                tally.stricter += 1
                let reason = details.error.map { "\($0)" } ?? "incomplete"
                stricterReasons[reason, default: 0] += 1
                if stricterReasons[reason] == 1 {
                    stricterExamples.append("  \(reason): \(String(decoding: input, as: UTF8.self).debugDescription)")
                }
            case (nil, nil):
                tally.bothRefuse += 1
            }
        }
        print(
            "HTTP1Wire request differential, seed \(seed): \(Self.cases) cases, both accept \(tally.bothAccept), "
                + "both refuse \(tally.bothRefuse), ours stricter \(tally.stricter) \(stricterReasons.sorted { $0.key < $1.key }), "
                + "ours closes where NIO keeps alive \(tally.stricterKeepAlive), disagreements \(disagreements.count)"
        )
        print("First case of each stricter answer:\n" + stricterExamples.joined(separator: "\n"))
        for disagreement in disagreements.prefix(10) { Issue.record("\(disagreement)") }
        #expect(disagreements.isEmpty)
        #expect(tally.bothAccept > Self.cases / 10)
    }

    /// `name: value` with the value's trailing whitespace removed, as our offsets give it.
    private static func trimmed(_ field: String) -> String {
        var field = field
        while field.last == " " || field.last == "\t" { field.removeLast() }
        return field
    }
}
