import Limiter
import Testing

@Suite("Request target normalisation")
struct RequestTargetTests {
    let normalizer = RequestTargetNormalizer()

    func normalized(_ target: String, method: String = "POST") throws -> String {
        try normalizer.normalize(target, method: method).target
    }

    @Test(
        "spellings of one route normalise to it",
        arguments: [
            ("/jobs", "/jobs"),
            ("/%6Aobs", "/jobs"),
            ("/j%6Fbs", "/jobs"),
            ("/j%6fbs", "/jobs"),
            ("http://x/jobs", "/jobs"),
            ("HTTP://x/jobs", "/jobs"),
            ("https://x:8443/jobs?a=1", "/jobs?a=1"),
            ("http://x", "/"),
            ("http://x?q", "/?q"),
            ("/./jobs/5", "/jobs/5"),
            ("/x/../jobs/6", "/jobs/6"),
            ("/%6Aobs/3", "/jobs/3"),
            ("/jobs/%2e%2e/admin", "/admin"),
            ("/jobs/%2E/7", "/jobs/7"),
            ("//jobs", "/jobs"),
            ("/jobs//8", "/jobs/8"),
            ("/../../jobs", "/jobs"),
            ("/jobs/.", "/jobs/"),
            ("/jobs/..", "/"),
            ("/jobs/", "/jobs/"),
            ("/", "/"),
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/jobs?x=/../y", "/jobs?x=/../y"),
            ("/jobs.json", "/jobs.json"),
            ("/.well-known/x", "/.well-known/x"),
            ("/a..b/c", "/a..b/c"),
        ]
    )
    func spellings(target: String, expected: String) throws {
        #expect(try normalized(target) == expected)
    }

    @Test(
        "characters not allowed raw are percent-encoded, the others kept",
        arguments: [
            ("/a|b", "/a%7Cb"),
            ("/a{b}", "/a%7Bb%7D"),
            ("/q\"<>^`", "/q%22%3C%3E%5E%60"),
            ("/s?x={1}|2", "/s?x=%7B1%7D%7C2"),
            ("/s?x=a\\b", "/s?x=a%5Cb"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb", "/a%3Fb"),
            ("/a%7e", "/a~"),
            ("/s?x=%7e", "/s?x=%7e"),
            ("/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="),
        ]
    )
    func encoding(target: String, expected: String) throws {
        #expect(try normalized(target) == expected)
    }

    @Test(
        "targets that cannot be forwarded faithfully are refused",
        arguments: [
            ("/jobs#frag", RequestTargetError.fragment),
            ("/jobs?x#frag", .fragment),
            ("/jobs%2F2", .encodedSeparator),
            ("/jobs%2f2", .encodedSeparator),
            ("/jobs%5C2", .encodedSeparator),
            ("/jobs%00", .encodedNul),
            ("/jobs?x=%00", .encodedNul),
            ("/jobs%", .malformedPercentEncoding),
            ("/jobs%4", .malformedPercentEncoding),
            ("/jobs%zz", .malformedPercentEncoding),
            ("/jobs?x=%g1", .malformedPercentEncoding),
            ("/a\\b", .invalidCharacter),
            ("/a b", .invalidCharacter),
            ("/a\u{7f}", .invalidCharacter),
            ("abc", .unsupportedForm),
            ("*", .unsupportedForm),
            ("", .unsupportedForm),
            ("ftp://x/jobs", .unsupportedForm),
            ("x:80", .unsupportedForm),
            ("http://user@x/jobs", .invalidAuthority),
            ("http:///jobs", .invalidAuthority),
        ]
    )
    func refused(target: String, error: RequestTargetError) {
        #expect(throws: error) { try normalizer.normalize(target, method: "GET") }
    }

    @Test("asterisk-form only for OPTIONS")
    func asterisk() throws {
        #expect(try normalized("*", method: "OPTIONS") == "*")
        #expect(throws: RequestTargetError.unsupportedForm) { try normalizer.normalize("*", method: "GET") }
    }

    @Test("HTTP/2's :path is never absolute-form")
    func http2Path() {
        #expect(throws: RequestTargetError.unsupportedForm) {
            try normalizer.normalize("http://x/jobs", method: "GET", allowsAbsoluteForm: false)
        }
    }

    @Test("absolute-form gives its authority and scheme")
    func authority() throws {
        let target = try normalizer.normalize("https://Example.COM:8443/jobs", method: "GET")
        #expect(target.authority == "Example.COM:8443")
        #expect(target.scheme == "https")
        #expect(target.path == "/jobs")
    }

    @Test("kept encoded separators are forwarded as sent and matched decoded")
    func keptSeparators() throws {
        let keep = RequestTargetNormalizer(encodedSeparators: .keep)
        let target = try keep.normalize("/jobs%2f2?x", method: "POST")
        #expect(target.target == "/jobs%2F2?x")
        #expect(target.pathForRules == "/jobs/2")
        let dotted = try keep.normalize("/x%2F..%2Fjobs", method: "POST")
        #expect(dotted.pathForRules == "/jobs")
        #expect(throws: RequestTargetError.encodedNul) { try keep.normalize("/a%00", method: "GET") }
    }

    @Test("a target already in normal form is returned as sent")
    func unchanged() throws {
        for target in ["/jobs", "/jobs/1?x=2&y=/z", "/a.b/c", "/jobs/"] {
            let result = try normalizer.normalize(target, method: "GET")
            #expect(result.target == target)
            #expect(result.matchPath == nil)
        }
    }

    @Test("every byte, percent-encoded, normalises to one form or is refused")
    func everyEncodedByte() throws {
        for byte in UInt8(0)...UInt8(255) {
            let hex = String(byte, radix: 16, uppercase: true)
            let encoded = "/a%" + (hex.count == 1 ? "0" + hex : hex) + "b"
            do {
                let first = try normalizer.normalize(encoded, method: "GET").target
                // Idempotent: the normal form is its own normal form.
                #expect(try normalizer.normalize(first, method: "GET").target == first)
                if RequestTargetNormalizer.isUnreserved(byte) {
                    #expect(first == "/a" + String(UnicodeScalar(byte)) + "b")
                }
            } catch {
                #expect([0, 0x2F, 0x5C].contains(byte))
            }
        }
    }
}
