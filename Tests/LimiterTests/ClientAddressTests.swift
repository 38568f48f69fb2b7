import Limiter
import Testing

/// "The client address": parsed, IPv4-mapped IPv6 folded, IPv6 grouped by a prefix, and
/// `X-Forwarded-For` entries read with their ports and brackets.
@Suite struct ClientAddressTests {
    @Test(arguments: [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("::FFFF:cb00:7107", "203.0.113.7"),
        ("0:0:0:0:0:ffff:203.0.113.7", "203.0.113.7"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::1", "::1"),
        ("::", "::"),
        ("::203.0.113.7", "::cb00:7107"),
        ("64:ff9b::203.0.113.7", "64:ff9b::cb00:7107"),
    ])
    func parsesAndFolds(text: String, canonical: String) throws {
        let address = try #require(IPAddress(parsing: text))
        #expect(address.description == canonical)
        #expect(IPAddress(parsing: canonical) == address)
    }

    @Test func ipv4MappedIPv6IsTheSameClientAsIPv4() throws {
        let mapped = try #require(IPAddress(parsing: "::ffff:203.0.113.7"))
        let plain = try #require(IPAddress(parsing: "203.0.113.7"))
        #expect(mapped == plain)
        #expect(mapped.family == .ipv4)
        #expect(ClientAddress(mapped).keyText == ClientAddress(plain).keyText)
        #expect(IPAddress(ipv6: 0xFFFF_CB00_7107) == plain)
    }

    @Test(arguments: [
        "", " 1.2.3.4", "1.2.3.4 ", "256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3", "::1:", ":1::",
        "1::2::3", "12345::", "g::1", "fe80::1%eth0", "[::1]", "1.2.3.4:80", "localhost", "1:2:3:4:5:6:7:8:9",
    ])
    func rejectsWhatIsNotALiteral(text: String) {
        #expect(IPAddress(parsing: text) == nil)
    }

    @Test(arguments: [
        // (prefix, address, key)
        (64, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        (64, "2001:db8:1:2::1", "2001:db8:1:2::/64"),
        (56, "2001:db8:1:2ff::1", "2001:db8:1:200::/56"),
        (128, "2001:db8:1:2::1", "2001:db8:1:2::1"),
        (48, "2001:db8:1:ffff::1", "2001:db8:1::/48"),
        (64, "203.0.113.7", "203.0.113.7"),
        (64, "::ffff:203.0.113.7", "203.0.113.7"),
    ])
    func ipv6ClientsAreGroupedByThePrefix(prefix: Int, text: String, key: String) throws {
        let address = try #require(IPAddress(parsing: text))
        #expect(ClientAddress(address, ipv6PrefixLength: prefix).keyText == key)
    }

    @Test func twoAddressesOfOneNetworkShareAKeyUnlessThePrefixSplitsThem() throws {
        let first = try #require(IPAddress(parsing: "2001:db8:1:2::1"))
        let second = try #require(IPAddress(parsing: "2001:db8:1:2:ffff::9"))
        let nextSubnet = try #require(IPAddress(parsing: "2001:db8:1:3::1"))
        #expect(ClientAddress(first).keyText == ClientAddress(second).keyText)
        #expect(ClientAddress(first).keyText != ClientAddress(nextSubnet).keyText)
        #expect(
            ClientAddress(first, ipv6PrefixLength: 56).keyText
                == ClientAddress(nextSubnet, ipv6PrefixLength: 56).keyText
        )
        #expect(
            ClientAddress(first, ipv6PrefixLength: 128).keyText != ClientAddress(second, ipv6PrefixLength: 128).keyText
        )
        // The access log shows the address itself, not its network.
        #expect(ClientAddress(second).description == "2001:db8:1:2:ffff::9")
    }

    @Test(arguments: [
        ("203.0.113.7", "203.0.113.7"),
        ("  203.0.113.7\t", "203.0.113.7"),
        ("203.0.113.7:5678", "203.0.113.7"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("[::ffff:203.0.113.7]:80", "203.0.113.7"),
    ])
    func forwardedForEntriesMayCarryPortsAndBrackets(entry: String, address: String) throws {
        let parsed = try #require(IPAddress(forwardedForEntry: Substring(entry)))
        #expect(parsed == IPAddress(parsing: address))
    }

    @Test(arguments: [
        "", "unknown", "_hidden", "gateway.internal", "203.0.113.7:", "203.0.113.7:65536", "203.0.113.7:x",
        "[203.0.113.7]", "[2001:db8::1", "[2001:db8::1]443", "[2001:db8::1]:", "2001:db8::1]", "1.2.3.4:5:6",
        "\"203.0.113.7\"",
    ])
    func garbageEntriesAreNotAddresses(entry: String) {
        #expect(IPAddress(forwardedForEntry: Substring(entry)) == nil)
    }
}

@Suite struct TrustedProxiesTests {
    let proxies = TrustedProxies([IPNetwork(parsing: "10.0.0.0/8")!, IPNetwork(parsing: "fd00::/8")!])

    private func client(peer: String, _ forwardedFor: [String]) -> String {
        proxies.clientAddress(peer: IPAddress(parsing: peer)!, forwardedFor: forwardedFor).description
    }

    @Test func anUntrustedPeerIsTheClientWhateverItForwards() {
        #expect(client(peer: "198.51.100.1", ["203.0.113.7"]) == "198.51.100.1")
    }

    @Test func theWalkStopsAtTheFirstUntrustedHopFromTheRight() {
        #expect(client(peer: "10.0.0.1", ["1.1.1.1, 203.0.113.7, 10.0.0.2"]) == "203.0.113.7")
        #expect(client(peer: "10.0.0.1", ["1.1.1.1", "203.0.113.7:5678", "[fd00::2]:80"]) == "203.0.113.7")
        #expect(client(peer: "fd00::9", ["[2001:db8::1]:443"]) == "2001:db8::1")
    }

    @Test func trustIsDecidedOnParsedAddresses() {
        // A trusted proxy written IPv4-mapped, or with a port, is still trusted.
        #expect(client(peer: "::ffff:10.0.0.1", ["203.0.113.7, ::ffff:10.0.0.3"]) == "203.0.113.7")
        #expect(client(peer: "10.0.0.1", ["203.0.113.7, 10.0.0.3:8080"]) == "203.0.113.7")
        // An untrusted hop written IPv4-mapped is the client, folded.
        #expect(client(peer: "10.0.0.1", ["::ffff:203.0.113.7"]) == "203.0.113.7")
    }

    @Test func garbageStopsTheWalkAtTheProxyThatPassedItOn() {
        #expect(client(peer: "10.0.0.1", ["203.0.113.7, unknown"]) == "10.0.0.1")
        #expect(client(peer: "10.0.0.1", ["203.0.113.7, not-an-address, 10.0.0.2"]) == "10.0.0.2")
        #expect(client(peer: "10.0.0.1", ["203.0.113.7", "1.2.3.4:99999"]) == "10.0.0.1")
    }

    @Test func emptyEntriesAreSkipped() {
        #expect(client(peer: "10.0.0.1", ["203.0.113.7, ,", ""]) == "203.0.113.7")
    }

    @Test func onlyTrustedHopsLeaveTheLeftmost() {
        #expect(client(peer: "10.0.0.1", ["10.0.0.5, 10.0.0.4"]) == "10.0.0.5")
    }
}
