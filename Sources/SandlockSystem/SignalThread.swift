#if canImport(Glibc)
import Glibc
#endif

/// The process's one signal thread: the given signals are blocked in the calling thread
/// (and so in every thread started after it, which inherit the mask) and taken with
/// sigwait(2) on a dedicated thread, so no signal ever interrupts the program's own threads.
public enum SignalThread {
    /// Must run before any other thread exists (call it first thing in `main`). `handler`
    /// runs on the signal thread, once per signal received.
    public static func start(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        var set = signalSet(signals)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let started = NamedThread.start("sandlock-signal") {
            var set = signalSet(signals)
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                handler(signal)
            }
        }
        precondition(started, "cannot start the signal thread: \(Errno.current)")
    }

    private static func signalSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}
