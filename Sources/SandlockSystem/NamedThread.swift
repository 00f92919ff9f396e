#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Detached pthreads for blocking loops (the event loop, sigwait, workers, the reducer feed),
/// which must not occupy the concurrency runtime's few threads. Each is named, so `top -H`
/// and /proc/<pid>/task/<tid>/comm say what it is.
public enum NamedThread {
    private final class Body: Sendable {
        let name: String
        let run: @Sendable () -> Void
        init(_ name: String, _ run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }

    /// Starts `body` on a new detached thread called `name` (at most 15 bytes are kept);
    /// false when pthread_create failed.
    @discardableResult
    public static func start(_ name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let box = Unmanaged.passRetained(Body(name, body))
        var thread = pthread_t()
        guard pthread_create(&thread, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            _ = csl_set_thread_name(body.name)
            body.run()
            return nil
        }, box.toOpaque()) == 0 else {
            box.release()
            return false
        }
        pthread_detach(thread)
        return true
    }
}
