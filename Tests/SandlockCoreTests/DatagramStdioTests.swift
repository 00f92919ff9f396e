import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// A datagram socket on a sandbox's stdio (the only descriptors that survive into it) could
/// send to any destination with sendmsg, whose address BPF cannot read: before, a UDP socket
/// on stdin sent a datagram to a port outside every rule with no `allow_udp`. Now such a
/// sandbox is refused, naming the stream, unless sendmsg is gated (IP under allow_udp).
@Suite("datagram sockets on stdio", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct DatagramStdioTests {
    static func socketOnStdin(_ family: Int32, _ type: Int32) -> StandardIO {
        StandardIO(stdin: .descriptor(SharedDescriptor(FileDescriptor(adopting: socket(family, type | Int32(SOCK_CLOEXEC.rawValue), 0)))))
    }

    func send(_ mode: String, to receiver: UDPReceiver, io: StandardIO, policy: Policy) async throws -> String {
        let result = try await Sandbox(policy: policy).run([Fixture.probe, "stdin-send", mode, "127.0.0.1", String(receiver.port)], io: io)
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("a UDP or unix datagram socket on stdio is refused, naming it; nothing is sent")
    func refused() async throws {
        let receiver = UDPReceiver()
        defer { receiver.close() }
        let udp = Int32(SOCK_DGRAM.rawValue)
        for (io, stream) in [(Self.socketOnStdin(AF_INET, udp), "stdin"), (Self.socketOnStdin(AF_UNIX, udp), "stdin"),
                             (StandardIO(stdout: .descriptor(SharedDescriptor(FileDescriptor(adopting: socket(AF_INET6, udp, 0))))), "stdout")] {
            do {
                let answer = try await send("sendmsg", to: receiver, io: io, policy: Fixture.basePolicy)
                Issue.record("\(stream): a datagram socket was accepted (\(answer))")
            } catch {
                #expect("\(error)".contains("\(stream) is a datagram socket"), "\(error)")
            }
        }
        // A unix datagram socket stays refused with allow_udp: its sendmsg is not gated.
        let unix = Self.socketOnStdin(AF_UNIX, udp)
        await #expect(throws: SandboxError.self) {
            _ = try await send("sendmsg", to: receiver, io: unix, policy: Fixture.basePolicy.with { $0.allowUDP = true })
        }
        #expect(receiver.received() == 0)
    }

    @Test("controls: with allow_udp a UDP stdin's sendmsg is judged by net_allow; a stream socket on stdin runs")
    func controls() async throws {
        let receiver = UDPReceiver()
        defer { receiver.close() }
        let udp = Fixture.basePolicy.with { $0.allowUDP = true }
        let io = Self.socketOnStdin(AF_INET, Int32(SOCK_DGRAM.rawValue))
        #expect(try await send("sendmsg", to: receiver, io: io, policy: udp) == "ECONNREFUSED")
        #expect(receiver.received() == 0)
        let allowed = udp.with { $0.netAllow = ["127.0.0.1:\(receiver.port)"] }
        #expect(try await send("sendmsg", to: receiver, io: io, policy: allowed) == "ok")
        #expect(receiver.received() == 1)
        let stream = Self.socketOnStdin(AF_INET, Int32(SOCK_STREAM.rawValue))
        #expect(try await Sandbox(policy: Fixture.basePolicy).run([Fixture.probe, "syscall", "getpid"], io: stream).stdoutText == "ok\n")
    }
}
