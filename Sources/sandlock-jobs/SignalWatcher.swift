#if canImport(Glibc)
import Glibc
#endif
import SandlockCore
import SandlockJobs
import Synchronization

/// Takes SIGINT, SIGTERM and SIGHUP on the process's `SignalThread` and calls the handler
/// once; a second signal exits at once with 128+N. `install()` must run before any other
/// thread exists (every thread inherits the signal mask), so no signal ever interrupts the
/// runner's own threads.
final class SignalWatcher: Sendable {
    static let watched: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    /// A shell reports death by signal N as 128+N; so does a second signal.
    static let signalExitBase: Int32 = 128
    private let received = Atomic<Int32>(0)
    private let handler = Mutex<(@Sendable (Int32) -> Void)?>(nil)

    static func install() -> SignalWatcher {
        let watcher = SignalWatcher()
        SignalThread.start(watched) { signal in watcher.take(signal) }
        // Writing to a reducer that stopped reading must fail with EPIPE, not kill us.
        Glibc.signal(SIGPIPE, SIG_IGN)
        return watcher
    }

    /// Calls `body` on the first signal (at once if one already came).
    func onSignal(_ body: @escaping @Sendable (Int32) -> Void) {
        handler.withLock { $0 = body }
        let signal = received.load(ordering: .acquiring)
        if signal != 0 { body(signal) }
    }

    private func take(_ signal: Int32) {
        // The first signal cancels the run; a second one means "now".
        guard received.compareExchange(expected: 0, desired: signal, ordering: .acquiringAndReleasing).exchanged else {
            _exit(Self.signalExitBase + signal)
        }
        handler.withLock { $0 }?(signal)
    }
}

/// Runs async work from synchronous code: the calling thread sleeps on a pipe until the
/// task ends (the CLI's commands are synchronous so that signals are masked before any
/// thread starts).
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let pipe = { () -> KernelPipe in
        do { return try KernelPipe() } catch { preconditionFailure("pipe2 failed: \(error)") }
    }()
    let result = Mutex<T?>(nil)
    let done = SharedDescriptor(pipe.write), waiting = pipe.read
    Task.detached {
        let value = await body()
        result.withLock { $0 = value }
        done.descriptor.writeByte()
    }
    var byte: UInt8 = 0
    _ = withUnsafeMutableBytes(of: &byte) { try? waiting.read(into: $0) }
    return result.withLock { $0! }
}
