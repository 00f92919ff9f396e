#if canImport(Glibc)
import Glibc
#endif
import SandlockCore

/// Copies message bodies and responses between the two sides, by their framing.
enum Relay {
    /// `length` bytes from `source` to `sink`.
    static func counted(_ length: Int, from source: Reader, to sink: any Transport) -> Bool {
        var left = length
        while left > 0 {
            guard let chunk = source.take(upTo: left), sink.write(Array(chunk)) else { return false }
            left -= chunk.count
        }
        return true
    }

    /// A chunked body, checked as it goes: hex sizes (extensions allowed), CRLF after each
    /// chunk's data, then trailer fields and the blank line.
    static func chunked(from source: Reader, to sink: any Transport) -> Bool {
        while true {
            guard let line = source.line(limit: 4096) else { return false }
            let sizeText = line.prefix { $0 != UInt8(ascii: ";") }
            guard !sizeText.isEmpty, sizeText.count <= 15, sizeText.allSatisfy({ HTTPPath.hex($0) != nil }),
                  let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16),
                  sink.write(line + [13, 10]) else { return false }
            if size == 0 { break }
            guard counted(size, from: source, to: sink), let end = source.line(limit: 2), end.isEmpty, sink.write([13, 10]) else {
                return false
            }
        }
        // Trailer section: fields until the blank line.
        for _ in 0..<MessageHead.maximumFields {
            guard let line = source.line(limit: 8192), sink.write(line + [13, 10]) else { return false }
            if line.isEmpty { return true }
            guard let first = line.first, first != 32, first != 9, line.contains(58) else { return false }
        }
        return false
    }

    enum ResponseEnd { case keepAlive, close, upgraded }

    /// One response (after any 1xx interim ones) from the server to the client.
    static func response(for method: String, from server: Reader, to client: any Transport) -> ResponseEnd {
        while true {
            guard case .head(let raw) = server.head(limit: 64 << 10), let head = try? MessageHead(parsing: raw, response: true),
                  client.write(raw) else { return .close }
            let status = Int(head.startLine[1]) ?? 0
            if status == 101 { return .upgraded }
            if (100..<200).contains(status) { continue }
            guard let framing = try? head.responseFraming(method: method) else { return .close }
            let connection = head.tokens("connection")
            let closes = connection.contains("close") || (head.startLine[0] == "HTTP/1.0" && !connection.contains("keep-alive"))
            switch framing {
            case .none: break
            case .length(let length): guard counted(length, from: server, to: client) else { return .close }
            case .chunked: guard chunked(from: server, to: client) else { return .close }
            case .untilClose:
                while let chunk = server.take(upTo: 1 << 16) { guard client.write(Array(chunk)) else { break } }
                return .close
            }
            return closes ? .close : .keepAlive
        }
    }

    /// After a 101: bytes both ways until either side ends.
    static func tunnel(_ a: Reader, _ b: Reader) {
        guard a.transport.write(b.drain()), b.transport.write(a.drain()) else { return }
        var polls = [pollfd(fd: a.transport.socket.rawValue, events: Int16(POLLIN), revents: 0),
                     pollfd(fd: b.transport.socket.rawValue, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let pending = a.transport.hasPending || b.transport.hasPending
            guard pending || (try? retryingInterrupts({ poll(&polls, 2, -1) })) ?? 0 > 0 else { return }
            for (index, (from, to)) in [(a.transport, b.transport), (b.transport, a.transport)].enumerated()
            where from.hasPending || polls[index].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { from.read(into: $0) }
                guard count > 0, to.write(Array(buffer.prefix(count))) else { return }
            }
            for index in polls.indices { polls[index].revents = 0 }
        }
    }
}
