import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// On-behalf work that hangs (a connect to a unix listener whose backlog is full blocks until
/// it accepts, which it never does) ties up only its own sandbox's share of the worker pool:
/// that sandbox's next on-behalf call answers EAGAIN at once, and another sandbox's connect
/// goes through meanwhile.
@Suite("worker pool shares", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]), .timeLimit(.minutes(2)))
struct WorkerPoolShareTests {
    @Test("connects hanging on a full backlog stall neither the pool nor another sandbox; the share bounds them")
    func hangingConnects() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            chmod(directory, 0o777)
            let full = try UnixListener(path: directory + "/full.sock", backlog: 0)
            let healthy = try UnixListener(path: directory + "/healthy.sock")
            defer { full.close(); healthy.close() }
            let policy = Fixture.basePolicy.with { $0.fsWritable.append(directory); $0.env["PROBE"] = Fixture.probe }
            // Eight connects at once: one fits the backlog, the next block in their workers
            // until the sandbox's share (4) is taken; the rest answer EAGAIN.
            let script = "for i in 1 2 3 4 5 6 7 8; do \"$PROBE\" unix-connect \(full.path) & done; wait"
            let output: SharedDescriptor, hanging: SandboxProcess
            do {
                // Only the sandbox keeps the write end: its end (the timeout, at worst) ends the read.
                let pipe = try SharedDescriptor.pipe()
                output = pipe.read
                hanging = try Sandbox(policy: policy.with { $0.timeout = .seconds(90) })
                    .spawn(["/bin/sh", "-c", script], io: StandardIO(stdout: .descriptor(pipe.write)))
            }
            let verdicts = Self.lines(from: output, until: "EAGAIN")
            #expect(verdicts.last == "EAGAIN", "the share did not bound the hanging connects: \(verdicts)")
            // Another sandbox's on-behalf connect is served while those hang.
            #expect(try await probe(["unix-connect", healthy.path], policy: policy) == "ok")
            #expect(healthy.pendingConnections() == 1)
            hanging.kill()
            _ = await hanging.wait()
        }
    }

    /// Lines read from `pipe` until one equals `last` (or end of file).
    static func lines(from pipe: SharedDescriptor, until last: String) -> [String] {
        var lines: [String] = [], current: [UInt8] = []
        var byte: UInt8 = 0
        while read(pipe.rawValue, &byte, 1) == 1 {
            guard byte == 10 else { current.append(byte); continue }
            lines.append(String(decoding: current, as: UTF8.self))
            current = []
            if lines.last == last { break }
        }
        return lines
    }
}
