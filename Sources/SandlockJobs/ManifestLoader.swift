/// The whole front end in one call: read the file, parse YAML, decode, plan.
///
///     let result = try ManifestLoader().load(path: "jobs/wordcount.yaml")
///     // print result.rendered to stderr: the warnings, or the errors
///     guard let plan = result.plan else { /* invalid: exit 65 */ }
///
/// A runner plans again right before it starts, with `Planner(inputsAreFinal: true)`.
public struct ManifestLoader: Sendable {
    public var planner: Planner
    public var reader: YAMLReader

    public init(planner: Planner = Planner(), reader: YAMLReader = YAMLReader()) {
        self.planner = planner
        self.reader = reader
    }

    public struct Result: Sendable {
        public var source: SourceFile
        /// The decoded manifest; `nil` when the YAML or its shape was unreadable.
        public var manifest: Manifest?
        /// The plan; `nil` whenever there is an error.
        public var plan: Plan?
        /// Errors, warnings and notes, in the order of the file.
        public var diagnostics: [Diagnostic]

        public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
        /// Every diagnostic rendered with its source line and caret.
        public var rendered: String { source.render(diagnostics) }
    }

    /// Reads and plans the manifest at `path`; a missing or unreadable file throws.
    public func load(path: String) throws(FileSystem.ReadError) -> Result {
        let bytes = try FileSystem.bytes(path)
        let source = SourceFile(path: path, text: String(decoding: bytes, as: UTF8.self))
        if let bad = Self.firstInvalidUTF8(bytes) {
            return Result(source: source, diagnostics: [Diagnostic(.error, "the file is not valid UTF-8", at: bad)])
        }
        return load(source)
    }

    /// Where the first byte sequence that is not UTF-8 starts.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> SourceMark? {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var mark = SourceMark(line: 1, column: 1)
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                if Unicode.UTF8.decode(encoded) == "\n" { mark = SourceMark(line: mark.line + 1, column: 1) } else { mark.column += 1 }
            case .emptyInput: return nil
            case .error: return mark
            }
        }
    }

    public func load(_ source: SourceFile) -> Result {
        let (root, yamlDiagnostics) = reader.read(source)
        var result = Result(source: source, diagnostics: yamlDiagnostics)
        if root == nil && !yamlDiagnostics.isEmpty { return result }  // the reader stopped
        var decoder = ManifestDecoder()
        result.manifest = decoder.decode(root, path: source.path)
        result.diagnostics += decoder.reader.diagnostics
        if let manifest = result.manifest {
            let (plan, planDiagnostics) = planner.plan(manifest)
            result.diagnostics += planDiagnostics
            result.plan = result.hasErrors ? nil : plan
            if plan == nil && !result.hasErrors {
                // Every path that drops a stage reports why; this catches one that does not.
                result.diagnostics.append(Diagnostic(.error, "internal error: the manifest has no error but could not be planned", at: nil))
            }
        }
        result.diagnostics = Self.sorted(result.diagnostics)
        return result
    }

    /// In file order; findings without a position first; a note stays after its error.
    static func sorted(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        var groups: [[Diagnostic]] = []
        for d in diagnostics {
            if d.severity == .note, !groups.isEmpty { groups[groups.count - 1].append(d) } else { groups.append([d]) }
        }
        let origin = SourceMark(line: 0, column: 0)
        return groups.enumerated().sorted { a, b in
            let ka = a.element[0].mark ?? origin, kb = b.element[0].mark ?? origin
            return ka != kb ? ka < kb : a.offset < b.offset
        }.flatMap(\.element)
    }
}
