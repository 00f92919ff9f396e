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
    private var lines: [Substring]

    public init(path: String, text: String) {
        self.path = path
        self.text = text
        self.lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
    }

    /// Line `number` (1-based) without its line break, or `nil` past the end.
    public func line(_ number: Int) -> Substring? {
        number >= 1 && number <= lines.count ? lines[number - 1] : nil
    }

    /// `path:line:col: severity: message`, then the source line and a caret line.
    public func render(_ d: Diagnostic) -> String {
        guard let mark = d.mark else { return "\(path): \(d.severity.rawValue): \(d.message)\n" }
        var out = "\(path):\(mark.line):\(mark.column): \(d.severity.rawValue): \(d.message)\n"
        guard let source = line(mark.line) else { return out }
        let scalars = Array(source.unicodeScalars)
        out += String(source) + "\n"
        var caret = ""
        // Keep tabs so the caret lines up under the same column in a terminal.
        for s in scalars.prefix(max(0, mark.column - 1)) { caret.unicodeScalars.append(s == "\t" ? "\t" : " ") }
        let room = max(1, min(d.length, scalars.count - (mark.column - 1)))
        caret += "^" + String(repeating: "~", count: room - 1)
        return out + caret + "\n"
    }

    public func render(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map(render).joined()
    }
}
