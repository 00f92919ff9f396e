#if canImport(Glibc)
import Glibc
#endif
import SandlockCore
import Synchronization

/// Turns SIGINT, SIGTERM and SIGHUP sent to the CLI into a kill of the sandbox's whole
/// tree (the sandbox runs in its own session, so the terminal's Ctrl-C reaches only us).
/// The signals are taken by the process's `SignalThread`, started before any other thread.
final class SignalForwarder: Sendable {
    static let shared = SignalForwarder()
    static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    private let target = Mutex<SandboxProcess?>(nil)
    private let received = Atomic<Int32>(0)

    /// Must run before any other thread exists, so every thread inherits the mask.
    private init() {
        SignalThread.start(Self.forwarded) { [self] signal in
            received.store(signal, ordering: .releasing)
            target.withLock { $0?.kill() }
        }
    }

    /// The sandbox to kill; a signal that came before it existed kills it at once.
    func forward(to process: SandboxProcess) {
        target.withLock { $0 = process }
        if received.load(ordering: .acquiring) != 0 { process.kill() }
    }

    /// The signal that ended the run, if any.
    var signal: Int32? {
        let value = received.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }
}
