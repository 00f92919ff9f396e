#if canImport(Glibc)
import Glibc
#endif
import CSandlockTLS
import SandlockCore

/// One side of a proxied connection: a plain socket or a TLS session on one.
protocol Transport: AnyObject {
    var socket: SharedDescriptor { get }
    /// Bytes read (> 0), 0 at the end of the stream, -1 on error.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int
    func write(_ bytes: [UInt8]) -> Bool
    /// Bytes already decrypted that a poll of the socket would not show.
    var hasPending: Bool { get }
    func close()
}

final class SocketTransport: Transport {
    let socket: SharedDescriptor

    init(_ socket: SharedDescriptor) { self.socket = socket }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        (try? socket.descriptor.read(into: buffer)) ?? -1
    }

    func write(_ bytes: [UInt8]) -> Bool { (try? socket.descriptor.writeAll(bytes)) != nil }
    var hasPending: Bool { false }
    func close() { _ = shutdown(socket.rawValue, Int32(SHUT_RDWR)) }
}

final class TLSTransport: Transport {
    let socket: SharedDescriptor
    private let session: OpaquePointer

    init(_ socket: SharedDescriptor, session: OpaquePointer) {
        self.socket = socket
        self.session = session
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        csl_tls_read(session, buffer.baseAddress, buffer.count)
    }

    func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { csl_tls_write(session, $0.baseAddress, $0.count) == $0.count }
    }

    var hasPending: Bool { csl_tls_pending(session) > 0 }
    var serverName: String { String(cString: csl_tls_server_name(session)) }

    func close() {
        csl_tls_close(session)
        _ = shutdown(socket.rawValue, Int32(SHUT_RDWR))
    }
}

/// A transport's input, buffered: message heads, lines and counted runs of bytes.
final class Reader {
    let transport: any Transport
    private var buffer: [UInt8] = []
    private var start = 0

    init(_ transport: any Transport) { self.transport = transport }

    var buffered: Int { buffer.count - start }

    /// Reads more; false at the end of the stream or on error.
    func fill() -> Bool {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        let count = chunk.withUnsafeMutableBytes { transport.read(into: $0) }
        guard count > 0 else { return false }
        buffer += chunk.prefix(count)
        return true
    }

    enum Head { case head([UInt8]), end, tooLarge, broken }

    /// Everything up to and including the blank line that ends a message head.
    func head(limit: Int) -> Head {
        // Bytes past `start` already searched (fill() may move the buffer's contents).
        var searched = 0
        while true {
            if let end = Reader.find([13, 10, 13, 10], in: buffer, from: start + max(0, searched - 3)) {
                let head = Array(buffer[start..<end + 4])
                start = end + 4
                return .head(head)
            }
            searched = buffered
            if buffered > limit { return .tooLarge }
            let hadBytes = buffered > 0
            guard fill() else { return hadBytes ? .broken : .end }
        }
    }

    /// One CRLF-terminated line, without its CRLF; nil at the end, on error or past `limit`.
    func line(limit: Int) -> [UInt8]? {
        while true {
            if let end = Reader.find([13, 10], in: buffer, from: start) {
                let line = Array(buffer[start..<end])
                start = end + 2
                return line
            }
            guard buffered <= limit, fill() else { return nil }
        }
    }

    /// Up to `count` bytes (at least one unless the stream ended).
    func take(upTo count: Int) -> ArraySlice<UInt8>? {
        if buffered == 0, !fill() { return nil }
        let end = start + min(count, buffered)
        defer { start = end }
        return buffer[start..<end]
    }

    /// The bytes buffered and not consumed, handed on (to a tunnel).
    func drain() -> [UInt8] {
        defer { start = buffer.count }
        return Array(buffer[start...])
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
