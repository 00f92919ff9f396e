import SandlockCore
import Synchronization

/// Writes the map workers' stdout files, in item order, into the reducer's stdin pipe from
/// a dedicated thread ("reducer-feed") with one 64 KiB buffer, so outputs of any size
/// stream through without being held in memory. Stops at the first failed write (the
/// reducer exited: EPIPE) and closes the pipe's write end at the end, which is the
/// reducer's EOF. The pipe is a `KernelPipe` (close-on-exec from birth); its read end goes
/// to the reducer's stdin as a `SharedDescriptor`.
final class ReducerFeed: Sendable {
    /// The write end until the feed is over: the only reference, so dropping it closes it.
    private let writer: Mutex<SharedDescriptor?>
    private let count: Int
    private let path: @Sendable (Int) -> String?
    private let state = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    private init(writer: SharedDescriptor, count: Int, path: @escaping @Sendable (Int) -> String?) {
        self.writer = Mutex(writer)
        self.count = count
        self.path = path
    }

    /// Starts the feeder thread; the feed holds the only reference to `writer` from now on.
    static func start(writer: SharedDescriptor, count: Int, path: @escaping @Sendable (Int) -> String?) -> ReducerFeed {
        let feed = ReducerFeed(writer: writer, count: count, path: path)
        if !NamedThread.start("reducer-feed", { feed.loop() }) { feed.finish() }
        return feed
    }

    private func loop() {
        if let out = writer.withLock({ $0 }) {
            var buffer = [UInt8](repeating: 0, count: 65536)
            for shard in 0..<count {
                guard let file = path(shard) else { continue }
                if !RunFiles.copy(file, to: out.descriptor, buffer: &buffer) { break }
            }
        }
        finish()
    }

    /// Closes the write end (the reducer's EOF) and wakes the waiter.
    private func finish() {
        writer.withLock { $0 = nil }
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
