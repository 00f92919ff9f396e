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
    /// `params:` (with `--set` overrides) and `${…}` references, resolved before decoding.
    public var interpolation = Interpolation()

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

    /// The largest manifest read: a bigger file is refused before it is read, with its size.
    /// 64 MiB is far above any written manifest (a stage takes about a hundred bytes) and
    /// keeps the front end's memory bounded (about ten times the file).
    public static let maxBytes = 64 << 20
    /// The most stages a manifest may have (checked after parsing, before decoding them).
    public static let maxStages = 100_000

    /// Reads and plans the manifest at `path`; a missing or unreadable file throws. A file
    /// over `maxBytes` is refused unread, with an error that names its size and the limit.
    public func load(path: String) throws(FileSystem.ReadError) -> Result {
        if let size = FileSystem.size(path), size > Self.maxBytes {
            return Self.tooLarge(path: path, size: "\(Self.megabytes(size)) (\(grouped(size)) bytes)")
        }
        let source: SourceFile
        do {
            // Reading one byte past the limit catches a file that is not regular or grew.
            let bytes = try FileSystem.bytes(path, limit: Self.maxBytes + 1)
            if bytes.count > Self.maxBytes {
                return Self.tooLarge(path: path, size: "more than \(grouped(Self.maxBytes)) bytes")
            }
            if let bad = Self.firstInvalidUTF8(bytes) {
                return Result(source: SourceFile(path: path, text: String(decoding: bytes, as: UTF8.self)),
                              diagnostics: [Diagnostic(.error, "the file is not valid UTF-8", at: bad)])
            }
            source = SourceFile(path: path, text: String(decoding: bytes, as: UTF8.self))
        }  // the bytes are freed here: only the text is kept
        return load(source)
    }

    private static func tooLarge(path: String, size: String) -> Result {
        let limit = "\(megabytes(maxBytes)) (\(grouped(maxBytes)) bytes)"
        return Result(source: SourceFile(path: path, text: ""), diagnostics: [Diagnostic(
            .error, "the manifest is \(size), over the limit of \(limit); split the job into smaller manifests", at: nil)])
    }

    /// `64 MiB`, `70.5 MiB`: whole when exact, else to a tenth.
    static func megabytes(_ bytes: Int) -> String {
        if bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB"
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
        var result = Result(source: source, diagnostics: [])
        // The node tree lives only while it is decoded: planning needs the manifest alone.
        guard decode(source, into: &result) else { return result }
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

    /// Reads the YAML and decodes it; false when the reader stopped.
    private func decode(_ source: SourceFile, into result: inout Result) -> Bool {
        let (root, yamlDiagnostics) = reader.read(source)
        result.diagnostics = yamlDiagnostics
        if root == nil && !yamlDiagnostics.isEmpty { return false }  // the reader stopped
        let resolved = root.map {
            interpolation.apply(to: $0, manifestPath: source.path, currentDirectory: planner.currentDirectory ?? FileSystem.currentDirectory,
                                diagnostics: &result.diagnostics)
        }
        var decoder = ManifestDecoder()
        result.manifest = decoder.decode(resolved, path: source.path)
        result.diagnostics += decoder.reader.diagnostics
        return true
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
