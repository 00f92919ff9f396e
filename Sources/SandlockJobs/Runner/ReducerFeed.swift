#if canImport(Glibc)
import Glibc
#endif
import SandlockCore
import Synchronization

/// Writes the map workers' stdout files, in item order, into the reducer's stdin pipe from
/// a dedicated thread with one 64 KiB buffer, so outputs of any size stream through without
/// being held in memory. Stops at the first failed write (the reducer exited: EPIPE) and
/// closes the pipe at the end, which is the reducer's EOF.
final class ReducerFeed: Sendable {
    private let writer: Int32
    private let count: Int
    private let path: @Sendable (Int) -> String?
    private let state = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    private init(writer: Int32, count: Int, path: @escaping @Sendable (Int) -> String?) {
        self.writer = writer
        self.count = count
        self.path = path
    }

    /// A pipe: the read end as the reducer's stdin, the write end for the feed.
    static func pipe() throws(SandboxError) -> (read: SharedDescriptor, write: Int32) {
        var fds: [Int32] = [-1, -1]
        // pipe(2) then FD_CLOEXEC (Glibc's module has no pipe2); a sandbox forked in between
        // closes every inherited descriptor before its command runs.
        guard Glibc.pipe(&fds) == 0 else { throw .systemCall("pipe", Errno(rawValue: errno)) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        defer { close(fds[0]) }
        do {
            // The engine takes pipe ends only as SharedDescriptor; reopening our read end
            // through /proc gives one that shares the pipe.
            return (try SharedDescriptor.open("/proc/self/fd/\(fds[0])", flags: O_RDONLY), fds[1])
        } catch {
            close(fds[1])
            throw error
        }
    }

    /// Starts the feeder thread; it owns `writer` from now on.
    static func start(writer: Int32, count: Int, path: @escaping @Sendable (Int) -> String?) -> ReducerFeed {
        let feed = ReducerFeed(writer: writer, count: count, path: path)
        if !DetachedThread.start({ feed.loop() }) { feed.finish() }
        return feed
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        for shard in 0..<count {
            guard let file = path(shard) else { continue }
            if !RunFiles.copy(file, to: writer, buffer: &buffer) { break }
        }
        finish()
    }

    private func finish() {
        close(writer)
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.done = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Returns when the feed has written everything or stopped.
    func finished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.done { return true }
                s.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}
