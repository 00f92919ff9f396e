/// The part of TOML that profiles use, read strictly, with the line and column of every key
/// and value: comments, `[table]` headers, `key = value` with bare, quoted or dotted keys,
/// basic and literal strings, integers, booleans, arrays (across lines) and inline tables.
/// Anything else TOML has (floats, dates, multi-line strings, arrays of tables) is refused
/// by name: no profile field takes one.
///
/// Why not a library: TOMLKit, the maintained Swift one, needs all of Foundation, which
/// cost every `sandlock` start 6.8 ms of CPU when linked in (13.5 → 20.3 ms), and has no
/// static build with this toolchain (`swift build --static-swift-stdlib` cannot find
/// CoreFoundation), which the release build uses.
struct TOMLReader {
    struct Position: Sendable, Equatable {
        var line: Int
        var column: Int
    }

    indirect enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int)
        case bool(Bool)
        case array([Located])
        case table([Entry])

        var typeName: String {
            switch self {
            case .string: "string"
            case .integer: "integer"
            case .bool: "boolean"
            case .array: "array"
            case .table: "table"
            }
        }
    }

    struct Located: Sendable, Equatable {
        var value: Value
        var position: Position
    }

    struct Entry: Sendable, Equatable {
        var key: String
        var keyPosition: Position
        var value: Located
    }

    struct Failure: Error, Sendable {
        var position: Position
        var message: String
    }

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0

    init(_ text: String) { bytes = Array(text.utf8) }

    /// The document's top-level entries; a `[name]` table is one entry whose value is a table.
    static func read(_ text: String) throws(Failure) -> [Entry] {
        var reader = TOMLReader(text)
        return try reader.document()
    }

    private var position: Position { Position(line: line, column: index - lineStart + 1) }
    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func fail(_ message: String, at where_: Position? = nil) -> Failure {
        Failure(position: where_ ?? position, message: message)
    }

    private mutating func document() throws(Failure) -> [Entry] {
        var root: [Entry] = []
        var table: (name: String, position: Position, entries: [Entry])?
        func close(_ table: (name: String, position: Position, entries: [Entry])?, into root: inout [Entry]) {
            if let table { root.append(Entry(key: table.name, keyPosition: table.position, value: Located(value: .table(table.entries), position: table.position))) }
        }
        while true {
            skipBlankAndComments(acrossLines: true)
            guard let byte = current else { break }
            if byte == UInt8(ascii: "[") {
                let start = position
                index += 1
                if current == UInt8(ascii: "[") { throw fail("arrays of tables ([[…]]) are not used by profiles") }
                skipSpaces()
                let name = try key()
                skipSpaces()
                guard current == UInt8(ascii: "]") else { throw fail("expected ']' to close the table header") }
                index += 1
                try endOfLine()
                close(table, into: &root)
                if root.contains(where: { $0.key == name }) { throw fail("table [\(name)] defined twice", at: start) }
                table = (name, start, [])
                continue
            }
            let entry = try keyValue()
            if table != nil {
                try insert(entry, into: &table!.entries)
            } else {
                try insert(entry, into: &root)
            }
            try endOfLine()
        }
        close(table, into: &root)
        return root
    }

    /// Adds `entry`, merging dotted keys (`env.CC = …`) into their table; a key twice is an error.
    private func insert(_ entry: Entry, into entries: inout [Entry]) throws(Failure) {
        guard let existing = entries.firstIndex(where: { $0.key == entry.key }) else {
            entries.append(entry)
            return
        }
        guard case .table(var inner) = entries[existing].value.value, case .table(let added) = entry.value.value,
              entry.value.position == entry.keyPosition else {
            throw fail("key '\(entry.key)' defined twice", at: entry.keyPosition)
        }
        for item in added { try insert(item, into: &inner) }
        entries[existing].value.value = .table(inner)
    }

    /// `key = value`; a dotted key `a.b = v` becomes `a = { b = v }` (its value positioned at
    /// the key, which marks it as a table that later dotted keys may add to).
    private mutating func keyValue() throws(Failure) -> Entry {
        let start = position
        var names = [try key()]
        skipSpaces()
        while current == UInt8(ascii: ".") {
            index += 1
            skipSpaces()
            names.append(try key())
            skipSpaces()
        }
        guard current == UInt8(ascii: "=") else { throw fail("expected '=' after the key '\(names.joined(separator: "."))'") }
        index += 1
        skipSpaces()
        var entry = Entry(key: names[names.count - 1], keyPosition: start, value: try value())
        for outer in names.dropLast().reversed() {
            entry = Entry(key: outer, keyPosition: start, value: Located(value: .table([entry]), position: start))
        }
        return entry
    }

    private mutating func key() throws(Failure) -> String {
        switch current {
        case UInt8(ascii: "\""): return try basicString()
        case UInt8(ascii: "'"): return try literalString()
        default:
            let from = index
            while let byte = current, Self.isBareKeyByte(byte) { index += 1 }
            guard index > from else { throw fail("expected a key (letters, digits, '_', '-', or a quoted key)") }
            return String(decoding: bytes[from..<index], as: UTF8.self)
        }
    }

    private mutating func value() throws(Failure) -> Located {
        let start = position
        guard let byte = current else { throw fail("expected a value, found the end of the file") }
        switch byte {
        case UInt8(ascii: "\""):
            if bytes[index...].starts(with: Array("\"\"\"".utf8)) { throw fail("multi-line strings are not used by profiles") }
            return Located(value: .string(try basicString()), position: start)
        case UInt8(ascii: "'"):
            if bytes[index...].starts(with: Array("'''".utf8)) { throw fail("multi-line strings are not used by profiles") }
            return Located(value: .string(try literalString()), position: start)
        case UInt8(ascii: "["):
            index += 1
            var items: [Located] = []
            while true {
                skipBlankAndComments(acrossLines: true)
                if current == UInt8(ascii: "]") { index += 1; break }
                items.append(try value())
                skipBlankAndComments(acrossLines: true)
                if current == UInt8(ascii: ",") { index += 1; continue }
                guard current == UInt8(ascii: "]") else { throw fail("expected ',' or ']' in the array") }
                index += 1
                break
            }
            return Located(value: .array(items), position: start)
        case UInt8(ascii: "{"):
            index += 1
            var entries: [Entry] = []
            skipSpaces()
            if current == UInt8(ascii: "}") { index += 1; return Located(value: .table([]), position: start) }
            while true {
                skipSpaces()
                try insert(try keyValue(), into: &entries)
                skipSpaces()
                if current == UInt8(ascii: ",") { index += 1; continue }
                guard current == UInt8(ascii: "}") else { throw fail("expected ',' or '}' in the inline table") }
                index += 1
                break
            }
            return Located(value: .table(entries), position: start)
        default:
            let from = index
            while let b = current, !Self.endsBareValue(b) { index += 1 }
            let word = String(decoding: bytes[from..<index], as: UTF8.self)
            if word == "true" { return Located(value: .bool(true), position: start) }
            if word == "false" { return Located(value: .bool(false), position: start) }
            if let number = Self.integer(word) { return Located(value: .integer(number), position: start) }
            if word.isEmpty { throw fail("expected a value") }
            let numeric = word.first.map { $0.isNumber || $0 == "+" || $0 == "-" } ?? false
            if numeric || ["inf", "nan", "+inf", "-inf", "+nan", "-nan"].contains(word) {
                if word.contains(where: { $0 == "." || $0 == "e" || $0 == "E" || $0 == ":" || $0 == "-" || $0 == "T" }) || word.hasSuffix("inf") || word.hasSuffix("nan") {
                    throw fail("'\(word)': floats and dates are not used by profiles", at: start)
                }
            }
            throw fail("'\(word)' is not a TOML value (strings are quoted: \"\(word)\")", at: start)
        }
    }

    /// Decimal, with `_` between digits; `0x`, `0o`, `0b` too.
    private static func integer(_ word: String) -> Int? {
        var text = Substring(word)
        var sign = 1
        if text.first == "+" || text.first == "-" { sign = text.first == "-" ? -1 : 1; text = text.dropFirst() }
        var radix = 10
        for (prefix, base) in [("0x", 16), ("0o", 8), ("0b", 2)] where text.hasPrefix(prefix) {
            radix = base
            text = text.dropFirst(2)
        }
        guard let first = text.first, first != "_", text.last != "_", !text.contains("__"),
              radix != 10 || !(text.count > 1 && first == "0") else { return nil }
        return Int(text.filter { $0 != "_" }, radix: radix).map { $0 * sign }
    }

    private mutating func basicString() throws(Failure) -> String {
        let start = position
        index += 1
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
            run.removeAll()
        }
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n") else { throw fail("unterminated string", at: start) }
            index += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 && byte != UInt8(ascii: "\t") || byte == 0x7F { throw fail("control character in a string (escape it)") }
            guard byte == UInt8(ascii: "\\") else { run.append(byte); continue }
            flush()
            guard let escape = current else { throw fail("unterminated string", at: start) }
            index += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "b"): scalars.append("\u{8}")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "f"): scalars.append("\u{C}")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = escape == UInt8(ascii: "u") ? 4 : 8
                guard index + count <= bytes.count,
                      let code = UInt32(String(decoding: bytes[index..<(index + count)], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(code) else { throw fail("bad \\\(Character(Unicode.Scalar(escape))) escape") }
                index += count
                scalars.append(scalar)
            default: throw fail("unknown escape '\\\(Character(Unicode.Scalar(escape)))'")
            }
        }
        flush()
        return String(scalars)
    }

    private mutating func literalString() throws(Failure) -> String {
        let start = position
        index += 1
        let from = index
        while let byte = current, byte != UInt8(ascii: "'") {
            if byte == UInt8(ascii: "\n") { throw fail("unterminated string", at: start) }
            index += 1
        }
        guard current != nil else { throw fail("unterminated string", at: start) }
        defer { index += 1 }
        return String(decoding: bytes[from..<index], as: UTF8.self)
    }

    private mutating func skipSpaces() {
        while current == UInt8(ascii: " ") || current == UInt8(ascii: "\t") { index += 1 }
    }

    private mutating func skipBlankAndComments(acrossLines: Bool) {
        while let byte = current {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                index += 1
            } else if byte == UInt8(ascii: "#") {
                while let b = current, b != UInt8(ascii: "\n") { index += 1 }
            } else if byte == UInt8(ascii: "\n") && acrossLines {
                index += 1
                line += 1
                lineStart = index
            } else {
                return
            }
        }
    }

    /// After a key/value or a header: only spaces and a comment until the line ends.
    private mutating func endOfLine() throws(Failure) {
        skipBlankAndComments(acrossLines: false)
        guard let byte = current else { return }
        guard byte == UInt8(ascii: "\n") else { throw fail("expected the end of the line") }
    }

    private static func isBareKeyByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }

    private static func endsBareValue(_ b: UInt8) -> Bool {
        b == UInt8(ascii: ",") || b == UInt8(ascii: "]") || b == UInt8(ascii: "}") || b == UInt8(ascii: "#")
            || b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r")
    }
}
