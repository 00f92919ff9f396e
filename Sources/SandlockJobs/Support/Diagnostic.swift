/// One finding about a manifest: where it is, how bad it is and what is wrong.
/// Rendered like a compiler diagnostic:
///
///     jobs/x.yaml:12:5: error: stage 'count': unknown key 'neds' (did you mean 'needs'?)
///         neds: [prepare]
///         ^~~~
public struct Diagnostic: Sendable, Hashable, Codable {
    public enum Severity: String, Sendable, Hashable, Codable {
        case error, warning, note
    }

    public var severity: Severity
    public var message: String
    /// Where the problem is; `nil` for findings about the whole file.
    public var mark: SourceMark?
    /// How many characters to underline after the caret (at least 1).
    public var length: Int

    public init(_ severity: Severity, _ message: String, at mark: SourceMark?, length: Int = 1) {
        self.severity = severity
        self.message = message
        self.mark = mark
        self.length = max(1, length)
    }

    public static func error(_ message: String, at node: YAMLNode) -> Diagnostic {
        Diagnostic(.error, message, at: node.start, length: node.underlineLength)
    }

    public static func warning(_ message: String, at node: YAMLNode) -> Diagnostic {
        Diagnostic(.warning, message, at: node.start, length: node.underlineLength)
    }
}

extension YAMLNode {
    /// Underline a scalar written on one line; a collection gets a single caret.
    var underlineLength: Int {
        guard case .scalar = content, end.line == start.line else { return 1 }
        return end.column - start.column
    }
}

/// The text of a manifest, kept to print the source line under each diagnostic.
public struct SourceFile: Sendable, Hashable {
    /// The path as the user wrote it; diagnostics start with it.
    public var path: String
    public var text: String
    /// The UTF-8 offset of each line's first byte; a line ends at `\n`, `\r\n` or `\r`.
    /// Eight bytes a line, where a `Substring` each would take 32.
    private var lineStarts: [Int]

    public init(path: String, text: String) {
        self.path = path
        var text = text
        text.makeContiguousUTF8()
        self.text = text
        var starts = [0]
        text.utf8.withContiguousStorageIfAvailable { bytes in
            var i = 0
            while i < bytes.count {
                if bytes[i] == 0x0A || (bytes[i] == 0x0D && (i + 1 == bytes.count || bytes[i + 1] != 0x0A)) {
                    starts.append(i + 1)
                }
                i += 1
            }
        }
        self.lineStarts = starts
    }

    /// Line `number` (1-based) without its line break, or `nil` past the end.
    public func line(_ number: Int) -> Substring? {
        guard number >= 1 && number <= lineStarts.count else { return nil }
        let utf8 = text.utf8
        let start = lineStarts[number - 1]
        var end = utf8.count
        if number < lineStarts.count {
            // The next line starts after this one's break: `\n`, `\r\n` or `\r`.
            end = lineStarts[number] - 1
            if end > start, utf8[utf8.index(utf8.startIndex, offsetBy: end)] == 0x0A,
                utf8[utf8.index(utf8.startIndex, offsetBy: end - 1)] == 0x0D {
                end -= 1
            }
        }
        // UTF-8 offsets of a native string are O(1) to turn into indices.
        return text[utf8.index(utf8.startIndex, offsetBy: start)..<utf8.index(utf8.startIndex, offsetBy: end)]
    }

    /// Lines longer than this (in characters) are shown as a window around the caret …
    static let longLine = 240
    /// … and a caret further out than this is shown without its line: finding the column
    /// walks the line, and many findings on one huge line must not walk it each time.
    static let farColumn = 4096

    /// `path:line:col: severity: message`, then the source line and a caret line.
    public func render(_ d: Diagnostic) -> String {
        guard let mark = d.mark else { return "\(path): \(d.severity.rawValue): \(d.message)\n" }
        var out = "\(path):\(mark.line):\(mark.column): \(d.severity.rawValue): \(d.message)\n"
        guard let source = line(mark.line), mark.column <= Self.farColumn else { return out }
        // The characters before the caret, and the rest of the line up to a window's width.
        let offset = max(0, mark.column - 1)
        var before: [Unicode.Scalar] = []
        var after: [Unicode.Scalar] = []
        var index = source.unicodeScalars.startIndex
        let end = source.unicodeScalars.endIndex
        while index != end, before.count < offset {
            before.append(source.unicodeScalars[index])
            source.unicodeScalars.formIndex(after: &index)
        }
        var truncatedEnd = false
        while index != end {
            if before.count + after.count >= Self.longLine, after.count >= Self.longLine / 3 {
                truncatedEnd = true
                break
            }
            after.append(source.unicodeScalars[index])
            source.unicodeScalars.formIndex(after: &index)
        }
        // Keep at most a window's width before the caret.
        let keep = max(Self.longLine - after.count, Self.longLine / 3)
        let truncatedStart = before.count > keep
        if truncatedStart { before.removeFirst(before.count - keep) }
        var shown = String.UnicodeScalarView()
        if truncatedStart { shown.append(contentsOf: "…".unicodeScalars) }
        shown.append(contentsOf: before)
        shown.append(contentsOf: after)
        if truncatedEnd { shown.append(contentsOf: "…".unicodeScalars) }
        out += String(shown) + "\n"
        var caret = ""
        if truncatedStart { caret += " " }
        // Keep tabs so the caret lines up under the same column in a terminal.
        for s in before { caret.unicodeScalars.append(s == "\t" ? "\t" : " ") }
        let room = max(1, min(d.length, after.count))
        caret += "^" + String(repeating: "~", count: room - 1)
        return out + caret + "\n"
    }

    public func render(_ diagnostics: [Diagnostic]) -> String {
        var out = ""
        for d in diagnostics { out += render(d) }
        return out
    }
}

/// `'a', 'b', 'c'`; of a long list only the first `limit`, then how many more:
/// `'s0', 's1', … 's9' and 7,990 more`. For messages that name stages or policies, which
/// must stay one readable line however large the manifest.
func quotedList(_ names: [String], limit: Int = 10) -> String {
    let shown = names.prefix(names.count > limit ? limit : names.count).map { "'\($0)'" }.joined(separator: ", ")
    return names.count > limit ? "\(shown) and \(grouped(names.count - limit)) more" : shown
}

/// `7,990`: a count with thousands separators.
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = n < 0 ? "-" : ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return out
}
