import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Loopback only: a listener this test opens on 127.0.0.1.
@Suite("Runner: network policies", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct RunnerNetworkTests {
    @Test("denied connection attempts are in the stage result and the summary, per destination")
    func deniedConnections() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 16)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)
        let connect = "import socket\\nfor host in ['127.0.0.1', '127.0.0.2', '127.0.0.2']:\\n    try: socket.create_connection((host, \(port)))\\n    except OSError: pass"
        let (run, stages, directory) = try await job.run("""
            stages:
              net:
                run: [/usr/bin/python3, -c, "\(connect)"]
                policy: { extends: sys, network: { allow: ["127.0.0.1:\(port)"] } }
            """)
        let net = try #require(stages["net"])
        #expect(net.status == .succeeded)
        #expect(net.deniedConnections == ["127.0.0.2:\(port)": 2])
        let summary = RunSummary(run: run, directory: directory).text
        #expect(summary.contains("stage 'net': denied connections: 127.0.0.2:\(port) (2x)"))
    }
}
