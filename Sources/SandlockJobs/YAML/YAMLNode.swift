/// A position in a source file, 1-based, as an editor shows it. Columns count characters
/// (Unicode scalars), as libyaml does.
public struct SourceMark: Sendable, Hashable, Codable, Comparable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: SourceMark, b: SourceMark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// One node of a YAML document read by `YAMLReader`: aliases are already replaced by the
/// node they name and merge keys (`<<`) already applied, so consumers see plain data that
/// still knows where each key and value was written.
public struct YAMLNode: Sendable, Hashable {
    public enum Content: Sendable, Hashable {
        case scalar(Scalar)
        case sequence([YAMLNode])
        case mapping([Pair])
    }

    public struct Scalar: Sendable, Hashable {
        public var text: String
        /// Plain scalars (no quotes, no block indicator) are the only ones that may be
        /// read as null, booleans or numbers.
        public var isPlain: Bool
    }

    public struct Pair: Sendable, Hashable {
        public var key: YAMLNode
        public var value: YAMLNode
    }

    public var content: Content
    /// The explicit tag (`!!str`), if any.
    public var tag: String?
    // The marks as 32-bit numbers: a manifest has a million nodes or more, and two
    // `SourceMark`s of two `Int`s each would be half of a node.
    private var startLine: Int32, startColumn: Int32
    private var endLine: Int32, endColumn: Int32

    /// Where the node starts.
    public var start: SourceMark {
        get { SourceMark(line: Int(startLine), column: Int(startColumn)) }
        set { (startLine, startColumn) = (Int32(clamping: newValue.line), Int32(clamping: newValue.column)) }
    }

    /// Where the node ends (exclusive); used to underline a value.
    public var end: SourceMark {
        get { SourceMark(line: Int(endLine), column: Int(endColumn)) }
        set { (endLine, endColumn) = (Int32(clamping: newValue.line), Int32(clamping: newValue.column)) }
    }

    public init(_ content: Content, start: SourceMark, end: SourceMark, tag: String? = nil) {
        self.content = content
        self.tag = tag
        (startLine, startColumn) = (Int32(clamping: start.line), Int32(clamping: start.column))
        (endLine, endColumn) = (Int32(clamping: end.line), Int32(clamping: end.column))
    }

    /// The text of a scalar node.
    public var scalarText: String? {
        if case .scalar(let s) = content { return s.text }
        return nil
    }

    /// True for `~`, `null`, `Null`, `NULL` and the empty plain scalar.
    public var isNull: Bool {
        guard case .scalar(let s) = content, s.isPlain, tag == nil || tag == "tag:yaml.org,2002:null"
        else { return false }
        return s.text.isEmpty || s.text == "~" || s.text == "null" || s.text == "Null" || s.text == "NULL"
    }

    /// A short description of the node for "found …" in diagnostics.
    public var summary: String {
        switch content {
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .scalar(let s):
            if isNull { return "null" }
            let text = s.text.count > 40 ? String(s.text.prefix(37)) + "..." : s.text
            return "'\(text.replacingNewlines())'"
        }
    }
}

extension String {
    func replacingNewlines() -> String {
        var out = ""
        for c in self { out += c == "\n" ? "\\n" : String(c) }
        return out
    }
}
