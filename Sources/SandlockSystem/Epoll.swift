#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// An epoll instance (epoll_create1(EPOLL_CLOEXEC)). Registrations carry a 64-bit token the
/// owner maps back to what it registered; the descriptors stay the owner's.
public struct Epoll: ~Copyable, Sendable {
    public struct Events: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: CSL_EPOLLIN)
        public static let writable = Events(rawValue: CSL_EPOLLOUT)
        /// Reported once, then disabled until re-armed (`modify`).
        public static let oneShot = Events(rawValue: CSL_EPOLLONESHOT)
        public static let hangUp = Events(rawValue: CSL_EPOLLHUP)
        public static let error = Events(rawValue: CSL_EPOLLERR)
    }

    /// One ready registration.
    public struct Event: Sendable {
        public var token: UInt64
        public var events: Events
    }

    public let descriptor: FileDescriptor

    public init() throws(Errno) {
        let fd = csl_epoll_create()
        guard fd >= 0 else { throw Errno.current }
        descriptor = FileDescriptor(adopting: fd)
    }

    public func add(_ fd: borrowing FileDescriptor, _ events: Events, token: UInt64) throws(Errno) {
        try control(CSL_EPOLL_CTL_ADD, fd.rawValue, events, token)
    }

    public func modify(_ fd: borrowing FileDescriptor, _ events: Events, token: UInt64) throws(Errno) {
        try control(CSL_EPOLL_CTL_MOD, fd.rawValue, events, token)
    }

    /// Removes a registration; a descriptor that was never registered is no error.
    public func remove(_ fd: borrowing FileDescriptor) {
        _ = csl_epoll_ctl(descriptor.rawValue, CSL_EPOLL_CTL_DEL, fd.rawValue, 0, 0)
    }

    private func control(_ operation: Int32, _ fd: Int32, _ events: Events, _ token: UInt64) throws(Errno) {
        if csl_epoll_ctl(descriptor.rawValue, operation, fd, events.rawValue, token) != 0 { throw Errno.current }
    }

    /// epoll_wait(2) for at most 64 events; `timeout` in milliseconds, -1 for none. An
    /// interrupted wait returns no events.
    public func wait(timeout milliseconds: Int32) -> [Event] {
        var tokens = (0..<64).map { _ in UInt64(0) }
        var events = [UInt32](repeating: 0, count: 64)
        let count = tokens.withUnsafeMutableBufferPointer { tokenBuffer in
            events.withUnsafeMutableBufferPointer { eventBuffer in
                csl_epoll_wait(descriptor.rawValue, tokenBuffer.baseAddress, eventBuffer.baseAddress, 64, milliseconds)
            }
        }
        return (0..<max(0, Int(count))).map { Event(token: tokens[$0], events: Events(rawValue: events[$0])) }
    }
}

/// A non-blocking eventfd: a counter one thread bumps to wake another's epoll.
public struct EventFD: ~Copyable, Sendable {
    public let descriptor: FileDescriptor

    public init() throws(Errno) {
        let fd = csl_eventfd()
        guard fd >= 0 else { throw Errno.current }
        descriptor = FileDescriptor(adopting: fd)
    }

    public func signal() {
        _ = withUnsafeBytes(of: UInt64(1)) { try? descriptor.write($0) }
    }

    /// Resets the counter.
    public func drain() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { try? descriptor.read(into: $0) }
    }
}
