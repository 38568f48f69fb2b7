import Limiter
import Testing

@Suite struct IPNetworkTests {
    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("192.168.1.1", "192.168.1.1/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("::1/128", "::1/128"),
        ("::1", "::1/128"),
        ("fd00::/8", "fd00::/8"),
        ("::", "::/128"),
        ("::/0", "::/0"),
        ("::ffff:10.0.0.1", "10.0.0.1/32"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
        ("::ffff:0:0/96", "0.0.0.0/0"),
        ("::ffff:0:0/80", "::/80"),
        ("2001:DB8:0:0:0:0:0:1/64", "2001:db8::/64"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"),
        ("2001:0db8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::1/128"),
        ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0/128"),
        ("fe80::1:2:3:4", "fe80::1:2:3:4/128"),
        ("1::", "1::/128"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221/128"),
    ])
    func parsesToCanonicalForm(text: String, canonical: String) throws {
        let network = try #require(IPNetwork(parsing: text))
        #expect(network.description == canonical)
        #expect(IPNetwork(parsing: canonical) == network)
    }

    @Test(arguments: [
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("192.168.1.130/25", "192.168.1.128/25"),
        ("fd12:3456::1/8", "fd00::/8"),
        ("2001:db8::ffff/113", "2001:db8::8000/113"),
    ])
    func hostBitsAreMasked(text: String, canonical: String) throws {
        #expect(try #require(IPNetwork(parsing: text)).description == canonical)
    }

    @Test(arguments: [
        "", "10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0.0", "256.0.0.1", "01.2.3.4", "1.2.3.4/", "1.2.3.4/x",
        "1.2.3.4/-1", "1.2.3.4/8/8", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::",
        "g::1", ":1::", "1::2:", "::1.2.3", "1.2.3.4::", "::ffff:1.2.3.4:5", "1:2:3:4:5:6:7::8", "fe80::1%eth0",
        " 10.0.0.0/8", "localhost",
    ])
    func rejectsMalformed(text: String) {
        #expect(IPNetwork(parsing: text) == nil)
    }

    @Test func ipv4Containment() throws {
        let network = try #require(IPNetwork(parsing: "10.0.0.0/8"))
        #expect(network.contains(ipAddressText: "10.255.1.2"))
        #expect(!network.contains(ipAddressText: "11.0.0.1"))
        #expect(network.contains(IPAddress(ipv4: 0x0A00_0001)))
        #expect(!network.contains(ipAddressText: "not an address"))
    }

    @Test func oddPrefixContainment() throws {
        let network = try #require(IPNetwork(parsing: "192.168.1.128/25"))
        #expect(network.contains(ipAddressText: "192.168.1.200"))
        #expect(!network.contains(ipAddressText: "192.168.1.127"))
    }

    @Test func singleHostAndEverything() throws {
        let host = try #require(IPNetwork(parsing: "192.168.1.1"))
        #expect(host.contains(ipAddressText: "192.168.1.1"))
        #expect(!host.contains(ipAddressText: "192.168.1.2"))
        let everything = try #require(IPNetwork(parsing: "0.0.0.0/0"))
        #expect(everything.contains(ipAddressText: "203.0.113.9"))
        #expect(!everything.contains(ipAddressText: "2001:db8::1"))
    }

    @Test func ipv6Containment() throws {
        let network = try #require(IPNetwork(parsing: "fd00::/8"))
        #expect(network.contains(ipAddressText: "fd12:3456::1"))
        #expect(!network.contains(ipAddressText: "fe80::1"))
        #expect(!network.contains(ipAddressText: "10.0.0.1"))
        let loopback = try #require(IPNetwork(parsing: "::1/128"))
        #expect(loopback.contains(ipAddressText: "0:0:0:0:0:0:0:1"))
    }

    @Test func ipv4MappedAddressesMatchIPv4Networks() throws {
        let network = try #require(IPNetwork(parsing: "10.0.0.0/8"))
        #expect(network.contains(ipAddressText: "::ffff:10.0.0.1"))
        #expect(network.contains(ipAddressText: "::FFFF:a00:1"))
        #expect(!network.contains(ipAddressText: "::ffff:11.0.0.1"))
        #expect(!network.contains(ipAddressText: "::10.0.0.1"))
    }

    @Test func ipv4AddressesMatchIPv4MappedNetworks() throws {
        let network = try #require(IPNetwork(parsing: "::ffff:10.0.0.0/104"))
        #expect(network.contains(ipAddressText: "10.1.2.3"))
        #expect(!network.contains(ipAddressText: "11.1.2.3"))
    }

    @Test func shortIPv6NetworksContainIPv4ThroughItsMappedForm() throws {
        #expect(try #require(IPNetwork(parsing: "::/0")).contains(ipAddressText: "203.0.113.9"))
        #expect(try #require(IPNetwork(parsing: "::ffff:0:0/80")).contains(ipAddressText: "203.0.113.9"))
        #expect(!(try #require(IPNetwork(parsing: "2001:db8::/32")).contains(ipAddressText: "203.0.113.9")))
    }

    @Test func addressTextKeepsTheFamilyAsWritten() throws {
        let bytes = try #require(IPAddressText.bytes(parsing: "2001:db8::8a2e:370:7334"))
        #expect(bytes == [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0x8A, 0x2E, 0x03, 0x70, 0x73, 0x34])
        #expect(IPAddressText.bytes(parsing: "127.0.0.1") == [127, 0, 0, 1])
        #expect(IPAddressText.bytes(parsing: "::ffff:127.0.0.1")?.count == 16)
    }
}
