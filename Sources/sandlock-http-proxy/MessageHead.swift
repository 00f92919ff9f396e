import SandlockCore

/// A strictly parsed HTTP/1.x message head (RFC 9112): a start line of three parts, then
/// header fields. Refused: bare LF or CR, obs-fold continuation lines, whitespace before a
/// colon, control bytes in values, a version other than HTTP/1.0 or HTTP/1.1.
struct MessageHead {
    /// Request: method, target, version. Response: version, status, reason.
    let startLine: [String]
    let fields: [(name: String, value: String)]

    struct Malformed: Error { let reason: String }

    static let maximumFields = 200

    init(parsing bytes: [UInt8], response: Bool = false) throws(Malformed) {
        func bad(_ reason: String) -> Malformed { Malformed(reason: reason) }
        // Every LF is preceded by CR and every CR followed by LF.
        for (index, byte) in bytes.enumerated() {
            if byte == 10, index == 0 || bytes[index - 1] != 13 { throw bad("bare LF in the head") }
            if byte == 13, index + 1 >= bytes.count || bytes[index + 1] != 10 { throw bad("bare CR in the head") }
        }
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map { $0.dropLast() }
        lines.removeLast(2) // the blank line and what follows its LF
        guard let first = lines.first, !first.isEmpty else { throw bad("empty request line") }
        let parts = first.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if response {
            guard parts.count >= 2, parts[0] == "HTTP/1.1" || parts[0] == "HTTP/1.0",
                  parts[1].count == 3, parts[1].allSatisfy(\.isNumber) else { throw bad("bad status line") }
            startLine = parts.count == 3 ? parts : parts + [""]
        } else {
            guard parts.count == 3, !parts[0].isEmpty, parts[0].utf8.allSatisfy(HTTPSyntax.isTokenByte) else {
                throw bad("bad request line")
            }
            guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { throw bad("bad request target") }
            guard parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else { throw bad("unsupported version '\(parts[2])'") }
            startLine = parts
        }
        var fields: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let first = line.first, first != 32, first != 9 else { throw bad("obs-fold continuation line") }
            guard let colon = line.firstIndex(of: 58) else { throw bad("header line without a colon") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(HTTPSyntax.isTokenByte) else { throw bad("bad header name") }
            var value = line[line.index(after: colon)...]
            while let byte = value.first, byte == 32 || byte == 9 { value = value.dropFirst() }
            while let byte = value.last, byte == 32 || byte == 9 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 9 || $0 >= 32 && $0 != 127 }) else { throw bad("control byte in header '\(String(decoding: name, as: UTF8.self))'") }
            fields.append((String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self)))
            if fields.count > Self.maximumFields { throw bad("more than \(Self.maximumFields) header fields") }
        }
        self.fields = fields
    }

    func values(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }

    /// Comma-separated tokens of every `name` field, lower case.
    func tokens(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces.lowercased() }
    }

    /// How the body after this head is delimited.
    enum Framing: Equatable { case none, length(Int), chunked, untilClose }

    /// The request body's framing: both Content-Length and Transfer-Encoding, several or
    /// differing lengths, and codings other than `chunked` are refused (no smuggling).
    func requestFraming(version: String) throws(Malformed) -> Framing {
        let lengths = values("content-length"), codings = values("transfer-encoding")
        if !lengths.isEmpty && !codings.isEmpty { throw Malformed(reason: "both Content-Length and Transfer-Encoding") }
        if !codings.isEmpty {
            guard version == "HTTP/1.1" else { throw Malformed(reason: "Transfer-Encoding in an HTTP/1.0 request") }
            guard codings.count == 1, codings[0].lowercased() == "chunked" else { throw Malformed(reason: "Transfer-Encoding other than chunked") }
            return .chunked
        }
        guard !lengths.isEmpty else { return .none }
        guard lengths.count == 1, let length = MessageHead.length(lengths[0]) else { throw Malformed(reason: "bad or repeated Content-Length") }
        return length == 0 ? .none : .length(length)
    }

    /// The response body's framing (RFC 9112 §6.3), for a request of `method`.
    func responseFraming(method: String) throws(Malformed) -> Framing {
        let status = Int(startLine[1]) ?? 0
        if method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status) { return .none }
        let codings = tokens("transfer-encoding")
        if !codings.isEmpty { return codings.last == "chunked" ? .chunked : .untilClose }
        let lengths = Set(tokens("content-length"))
        guard !lengths.isEmpty else { return .untilClose }
        guard lengths.count == 1, let length = MessageHead.length(lengths.first!) else { throw Malformed(reason: "bad Content-Length in the response") }
        return .length(length)
    }

    static func length(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 15, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    /// The head again, with another start line: fields as they came, names lower-cased.
    func serialized(startLine: String) -> [UInt8] {
        var text = startLine + "\r\n"
        for (name, value) in fields { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        var text = self[...]
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return Substring(text)
    }
}
