import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// Landlock's bind rules are TCP's only: with `allow_udp` a sandbox could bind, and so receive
/// on, any UDP port. Binds are now trapped with `allow_udp`/`allow_icmp` and made on behalf:
/// a port outside `net_bind` is refused, as for TCP. Before: `udp-bind` of a port outside
/// every rule answered ok.
@Suite("UDP binds", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct DatagramBindTests {
    /// A UDP port free a moment ago (bound to port 0, then released).
    static func freeUDPPort() -> UInt16 {
        let receiver = UDPReceiver()
        defer { receiver.close() }
        return receiver.port
    }

    @Test("with allow_udp a UDP port outside net_bind is refused; net_bind's ports and ephemeral ones bind")
    func udpPorts() async throws {
        let port = String(Self.freeUDPPort())
        let udp = Fixture.basePolicy.with { $0.allowUDP = true }
        #expect(try await probe(["udp-bind", port], policy: udp) == "EACCES")
        #expect(try await probe(["udp-bind", port], policy: udp.with { $0.allowUDP = false; $0.allowICMP = true; $0.netBind = [] }) == "EPERM",
                "control: without allow_udp no UDP socket is made at all")
        // Controls: the port in net_bind, an ephemeral port, and the same bind outside a sandbox.
        #expect(try await probe(["udp-bind", port], policy: udp.with { $0.netBind = [UInt16(port)!] }) == "ok")
        #expect(try await probe(["udp-bind", "0"], policy: udp) == "ok")
        #expect(try probeBare(["udp-bind", port]) == "ok")
        // TCP binds, now made on behalf too, keep Landlock's answers.
        let tcp = String(try freeTCPPort())
        #expect(try await probe(["bind", tcp], policy: udp) == "EACCES")
        #expect(try await probe(["bind", tcp], policy: udp.with { $0.netBind = [UInt16(tcp)!] }) == "ok")
    }
}
