import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// Loopback only: listeners this test opens on 127.0.0.x and ::1.
@Suite("network allowlist", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct NetworkTests {
    private func allowing(_ rules: String..., udp: Bool = false) -> Policy {
        Fixture.basePolicy.with {
            $0.netAllow = rules
            $0.allowUDP = udp
        }
    }

    @Test(":port allows that port on any address, and only that port, with no network gate")
    func anyAddressPort() async throws {
        let first = try TCPListener(address: "127.0.0.1"), second = try TCPListener(address: "127.0.0.2", port: first.port)
        let other = try TCPListener(address: "127.0.0.1")
        defer { first.close(); second.close(); other.close() }
        let policy = allowing(":\(first.port)")
        #expect(try await probe(["connect-to", "127.0.0.1", String(first.port)], policy: policy) == "ok")
        #expect(try await probe(["connect-to", "127.0.0.2", String(first.port)], policy: policy) == "ok")
        #expect(try await probe(["connect-to", "127.0.0.1", String(other.port)], policy: policy) == "EACCES")
        // Every connect is trapped (for its unix sockets, see UnixSocketTests): one round trip,
        // checked against the same `:port` rules Landlock holds.
        let result = try await Sandbox(policy: policy).run([Fixture.probe, "connect-to", "127.0.0.1", String(first.port)])
        #expect(result.supervisorNotifications == 1)
    }

    @Test("an address rule allows that address and not another on the same port")
    func concreteAddress() async throws {
        let first = try TCPListener(address: "127.0.0.1"), second = try TCPListener(address: "127.0.0.2", port: first.port)
        defer { first.close(); second.close() }
        let policy = allowing("127.0.0.1:\(first.port)")
        #expect(try await probe(["connect-to", "127.0.0.1", String(first.port)], policy: policy) == "ok")
        #expect(try await probe(["connect-to", "127.0.0.2", String(first.port)], policy: policy) == "ECONNREFUSED")
        #expect(try probeBare(["connect-to", "127.0.0.2", String(first.port)]) == "ok")
        let denied = try await Sandbox(policy: policy).run([Fixture.probe, "connect-to", "127.0.0.2", String(first.port)])
        #expect(denied.deniedConnections == ["127.0.0.2:\(first.port)": 1])
    }

    @Test("a host name is resolved once and pinned in the sandbox's /etc/hosts")
    func hostName() async throws {
        let listener = try TCPListener(address: "127.0.0.1")
        defer { listener.close() }
        let policy = allowing("localhost:\(listener.port)")
        let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", "cat /etc/hosts; \(Fixture.probe) connect-to 127.0.0.1 \(listener.port)"])
        #expect(result.stdoutText == "127.0.0.1 localhost\n::1 localhost\nok\n")
    }

    @Test("IPv6 rules", .enabled(if: (try? TCPListener(address: "::1"))?.close() != nil))
    func ipv6() async throws {
        let listener = try TCPListener(address: "::1")
        defer { listener.close() }
        #expect(try await probe(["connect-to", "::1", String(listener.port)], policy: allowing("[::1]:\(listener.port)")) == "ok")
        #expect(try await probe(["connect-to", "::1", String(listener.port)], policy: allowing("127.0.0.1:\(listener.port)")) == "ECONNREFUSED")
        #expect(try await probe(["connect-to", "::1", String(listener.port)], policy: allowing("[::1/128]:\(listener.port)")) == "ok")
    }

    @Test("UDP: denied by default, then allowed to listed destinations only")
    func udp() async throws {
        #expect(try await probe(["udp-send", "127.0.0.1", "9"]) == "EPERM")
        let policy = allowing("127.0.0.1:9", udp: true)
        #expect(try await probe(["udp-send", "127.0.0.1", "9"], policy: policy) == "ok")
        #expect(try await probe(["udp-send", "127.0.0.1", "10"], policy: policy) == "ECONNREFUSED")
        #expect(try await probe(["udp-send", "127.0.0.2", "9"], policy: policy) == "ECONNREFUSED")
    }

    @Test("a thread rewriting the sockaddr during connect cannot redirect it")
    func connectRace() async throws {
        let allowed = try TCPListener(address: "127.0.0.1"), denied = try TCPListener(address: "127.0.0.1")
        defer { allowed.close(); denied.close() }
        let policy = allowing("127.0.0.1:\(allowed.port)")
        for _ in 0..<5 {
            let result = try await Sandbox(policy: policy).run([Fixture.probe, "connect-race", String(allowed.port), String(denied.port), "400"])
            let connected = Int(result.stdoutText.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
            #expect(connected > 0, "the allowed port never connected: \(result.stdoutText) \(result.stderrText)")
        }
        #expect(denied.pendingConnections() == 0)
        #expect(allowed.pendingConnections() > 0)
    }

    @Test("bad rules are errors naming them")
    func badRules() async throws {
        await #expect(throws: SandboxError.self) { try await Sandbox(policy: allowing("example.com")).run(["/bin/true"]) }
        await #expect(throws: SandboxError.self) { try await Sandbox(policy: allowing("1.2.3.4:99999")).run(["/bin/true"]) }
    }
}
