import Foundation
import SandlockCore

/// Lets a test wait for sandboxed stages by blocking on FIFOs instead of polling `/proc` with
/// a deadline that a loaded machine misses. A stage's command starts with `prefix`: it holds
/// `alive` open for writing (inherited by everything it execs or forks) and then writes one
/// line to `ready`. The test reads N lines to know N stages run, and sees `alive` hang up
/// once every process of those stages is gone.
final class StageHandshake {
    let directory: String
    private let ready: FileDescriptor
    private let alive: FileDescriptor

    /// The bound on every wait: only turns a missed event into a failure instead of a hang.
    static let patience: Int32 = 300_000

    init() throws {
        var template = Array("/tmp/sandlock-handshake-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        chmod(directory, 0o777)
        for name in ["ready", "alive"] { guard mkfifo(directory + "/" + name, 0o666) == 0 else { throw Errno.current } }
        // Read-write: a stage's write never blocks for want of a reader, and reads never see EOF.
        ready = try FileDescriptor(opening: directory + "/ready", flags: O_RDWR)
        // Read-only and non-blocking: open succeeds before any writer; hang-up comes only after
        // writers have come and all gone.
        alive = try FileDescriptor(opening: directory + "/alive", flags: O_RDONLY | O_NONBLOCK)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// The policy lines a stage needs to reach the FIFOs (a plain write grant, outside the workdir,
    /// so a copy-on-write stage opens the test's FIFOs and not copies of them).
    var grant: String { directory }

    /// Shell text to put before a stage's own command.
    var prefix: String { "exec 3>\(directory)/alive; echo up > \(directory)/ready; " }

    /// Blocks until `count` stages have started; false if the bound passed first.
    func waitForStarts(_ count: Int) -> Bool {
        var seen = 0
        var buffer = [UInt8](repeating: 0, count: 256)
        while seen < count {
            guard wait(for: ready, events: Int16(POLLIN)) else { return false }
            let n = buffer.withUnsafeMutableBytes { (try? ready.read(into: $0)) ?? 0 }
            seen += buffer[0..<max(n, 0)].filter { $0 == UInt8(ascii: "\n") }.count
        }
        return true
    }

    /// Blocks until every process that inherited `alive` has exited; false if the bound passed first.
    func waitUntilAllGone() -> Bool {
        while true {
            var entry = pollfd(fd: alive.rawValue, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, Self.patience) > 0 else { return false }
            if entry.revents & Int16(POLLHUP) != 0 { return true }
            var byte: UInt8 = 0
            _ = withUnsafeMutableBytes(of: &byte) { try? alive.read(into: $0) }
        }
    }

    private func wait(for descriptor: borrowing FileDescriptor, events: Int16) -> Bool {
        var entry = pollfd(fd: descriptor.rawValue, events: events, revents: 0)
        return poll(&entry, 1, Self.patience) > 0
    }
}
