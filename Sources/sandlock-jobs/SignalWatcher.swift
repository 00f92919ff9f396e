#if canImport(Glibc)
import Glibc
#endif
import SandlockJobs
import Synchronization

/// Takes SIGINT, SIGTERM and SIGHUP on a dedicated thread (sigwait) and calls the handler
/// once; a second signal exits at once with 128+N. The signals are blocked process-wide
/// by `install()`, which must run before any other thread exists (every thread inherits
/// the mask), so no signal ever interrupts the runner's own threads.
final class SignalWatcher: Sendable {
    static let watched: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    private let received = Atomic<Int32>(0)
    private let handler = Mutex<(@Sendable (Int32) -> Void)?>(nil)

    static func install() -> SignalWatcher {
        var set = watchedSet
        pthread_sigmask(SIG_BLOCK, &set, nil)
        // Writing to a reducer that stopped reading must fail with EPIPE, not kill us.
        Glibc.signal(SIGPIPE, SIG_IGN)
        let watcher = SignalWatcher()
        DetachedThread.start { watcher.loop() }
        return watcher
    }

    private static var watchedSet: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in watched { sigaddset(&set, signal) }
        return set
    }

    /// Calls `body` on the first signal (at once if one already came).
    func onSignal(_ body: @escaping @Sendable (Int32) -> Void) {
        handler.withLock { $0 = body }
        let signal = received.load(ordering: .acquiring)
        if signal != 0 { body(signal) }
    }

    private func loop() {
        var set = Self.watchedSet
        var signal: Int32 = 0
        while true {
            guard sigwait(&set, &signal) == 0 else { continue }
            // The first signal cancels the run; a second one means "now".
            guard received.compareExchange(expected: 0, desired: signal, ordering: .acquiringAndReleasing).exchanged else {
                _exit(128 + signal)
            }
            handler.withLock { $0 }?(signal)
        }
    }
}

/// Runs async work from synchronous code: the calling thread sleeps on a pipe until the
/// task ends (the CLI's commands are synchronous so that signals are masked before any
/// thread starts).
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    var fds: [Int32] = [-1, -1]
    precondition(pipe(&fds) == 0, "pipe failed")
    defer { close(fds[0]); close(fds[1]) }
    let result = Mutex<T?>(nil)
    let writer = fds[1]
    Task.detached {
        let value = await body()
        result.withLock { $0 = value }
        var byte: UInt8 = 1
        _ = write(writer, &byte, 1)
    }
    var byte: UInt8 = 0
    while read(fds[0], &byte, 1) < 0 && errno == EINTR {}
    return result.withLock { $0! }
}
