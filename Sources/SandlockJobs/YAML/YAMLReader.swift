internal import CLibYAML

/// Reads one YAML document with the system libyaml (`yaml_parser_parse`, event API) into a
/// `YAMLNode` tree that keeps the line and column of every key and value.
///
/// - Anchors and aliases are resolved; an alias to an unknown or still-open anchor is an error.
/// - Merge keys (`<<: *base` or `<<: [*a, *b]`) copy the keys the mapping does not set itself.
/// - Duplicate keys in one mapping are errors.
/// - Alias expansion is bounded (`maxNodes`), so a "billion laughs" document fails cleanly.
///
/// A syntax error stops reading (libyaml cannot recover), and so do an unknown alias, a
/// second document and too many nodes; then `root` is `nil`. Duplicate keys and bad merge
/// keys are collected and reading goes on.
public struct YAMLReader: Sendable {
    /// Upper bound on nodes after alias expansion: a manifest at the size limit
    /// (`ManifestLoader.maxBytes`, 64 MiB) written plainly has fewer (a stage is ten nodes or
    /// more, in hundreds of bytes), a "billion laughs" many more.
    public var maxNodes: Int = 8_000_000
    /// Upper bound on nesting, so that no recursive walk of the tree can exhaust the stack.
    public var maxDepth: Int = 256

    public init() {}

    public func read(_ source: SourceFile) -> (root: YAMLNode?, diagnostics: [Diagnostic]) {
        var builder = TreeBuilder(maxNodes: maxNodes, maxDepth: maxDepth)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return (nil, [Diagnostic(.error, "cannot initialise the YAML parser (out of memory)", at: nil)])
        }
        defer { yaml_parser_delete(&parser) }

        // libyaml reads the text in place (`SourceFile` keeps it contiguous UTF-8: no copy).
        // It asserts a non-null input pointer, so an empty text reads from a buffer of one NUL.
        func parse(_ base: UnsafePointer<UInt8>, _ count: Int) -> Bool {
            yaml_parser_set_input_string(&parser, base, count)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    builder.diagnostics += Self.syntaxError(parser)
                    return false
                }
                defer { yaml_event_delete(&event) }
                if !builder.consume(event) { return false }
                if event.type == YAML_STREAM_END_EVENT { return true }
            }
        }
        var text = source.text
        let finished = text.isEmpty
            ? [UInt8(0)].withUnsafeBufferPointer { parse($0.baseAddress!, 0) }
            : text.withUTF8 { parse($0.baseAddress!, $0.count) }
        // A document cut short is not handed on: decoding it would only add noise.
        return (finished ? builder.root : nil, builder.diagnostics)
    }

    private static func syntaxError(_ parser: yaml_parser_t) -> [Diagnostic] {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        var found = [Diagnostic(.error, "YAML syntax: \(problem)", at: mark(parser.problem_mark))]
        if let context = parser.context.map({ String(cString: $0) }) {
            let at = mark(parser.context_mark)
            if at != found[0].mark { found.append(Diagnostic(.note, "\(context) that starts here", at: at)) }
            else { found[0].message += " (\(context))" }
        }
        return found
    }

    static func mark(_ m: yaml_mark_t) -> SourceMark {
        SourceMark(line: Int(m.line) + 1, column: Int(m.column) + 1)
    }
}

/// Turns the event stream into nodes, one open collection per stack frame.
private struct TreeBuilder {
    struct Frame {
        var isMapping: Bool
        var start: SourceMark
        var tag: String?
        var anchor: String?
        var items: [YAMLNode] = []
        var pairs: [YAMLNode.Pair] = []
        var pendingKey: YAMLNode?
        var merges: [YAMLNode] = []
        var keys: [String: SourceMark] = [:]
        var weight = 1
    }

    let maxNodes: Int
    let maxDepth: Int
    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, weight: Int)] = [:]
    var root: YAMLNode?
    var documents = 0
    var totalWeight = 0
    /// Nodes that aliases copied (counted in `totalWeight` too).
    var aliased = 0
    var diagnostics: [Diagnostic] = []

    init(maxNodes: Int, maxDepth: Int) {
        self.maxNodes = maxNodes
        self.maxDepth = maxDepth
    }

    /// Returns false to stop reading.
    mutating func consume(_ event: yaml_event_t) -> Bool {
        let start = YAMLReader.mark(event.start_mark)
        let end = YAMLReader.mark(event.end_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                diagnostics.append(Diagnostic(.error, "a manifest holds one YAML document; found a second one", at: start))
                return false
            }
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
            let node = YAMLNode(
                .scalar(.init(text: text, isPlain: s.style == YAML_PLAIN_SCALAR_STYLE)),
                start: start, end: end, tag: Self.string(s.tag))
            return complete(node, anchor: Self.string(s.anchor), weight: 1, new: 1)
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                diagnostics.append(Diagnostic(.error, "unknown alias '*\(name)' (anchors must be defined before use)", at: start, length: end.column - start.column))
                return false
            }
            aliased += target.weight
            return complete(target.node, anchor: nil, weight: target.weight, new: target.weight)
        case YAML_SEQUENCE_START_EVENT where stack.count >= maxDepth, YAML_MAPPING_START_EVENT where stack.count >= maxDepth:
            diagnostics.append(Diagnostic(.error, "the document nests deeper than \(maxDepth) levels", at: start))
            return false
        case YAML_SEQUENCE_START_EVENT:
            let s = event.data.sequence_start
            stack.append(Frame(isMapping: false, start: start, tag: Self.string(s.tag), anchor: Self.string(s.anchor)))
        case YAML_MAPPING_START_EVENT:
            let m = event.data.mapping_start
            stack.append(Frame(isMapping: true, start: start, tag: Self.string(m.tag), anchor: Self.string(m.anchor)))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard var frame = stack.popLast() else { return false }
            let content: YAMLNode.Content
            if frame.isMapping {
                applyMerges(&frame)
                content = .mapping(frame.pairs)
            } else {
                content = .sequence(frame.items)
            }
            let node = YAMLNode(content, start: frame.start, end: end, tag: frame.tag)
            return complete(node, anchor: frame.anchor, weight: frame.weight, new: 1)  // children counted already
        default:
            break
        }
        return true
    }

    /// Adds a finished node to its parent. `weight` is the node's size with aliases
    /// expanded; `new` is how many nodes that adds to the document.
    private mutating func complete(_ node: YAMLNode, anchor: String?, weight: Int, new: Int) -> Bool {
        totalWeight += new
        if let tag = node.tag, !tag.hasPrefix("tag:yaml.org,2002:") {
            diagnostics.append(Diagnostic(.error, "tag '\(tag)' is not supported (manifests use plain YAML values)", at: node.start))
        }
        if totalWeight > maxNodes {
            let text = aliased == 0
                ? "the document has more than \(maxNodes) nodes (the limit of a manifest)"
                : "the document expands to more than \(maxNodes) nodes (aliases nested too deeply?)"
            diagnostics.append(Diagnostic(.error, text, at: node.start))
            return false
        }
        if let anchor { anchors[anchor] = (node, weight) }
        guard !stack.isEmpty else {
            root = node
            return true
        }
        stack[stack.count - 1].weight += weight
        if !stack[stack.count - 1].isMapping {
            stack[stack.count - 1].items.append(node)
        } else if let key = stack[stack.count - 1].pendingKey {
            stack[stack.count - 1].pendingKey = nil
            addPair(key: key, value: node)
        } else {
            stack[stack.count - 1].pendingKey = node
        }
        return true
    }

    private mutating func addPair(key: YAMLNode, value: YAMLNode) {
        let top = stack.count - 1
        if case .scalar(let k) = key.content, k.isPlain, k.text == "<<", key.tag == nil || key.tag == "tag:yaml.org,2002:merge" {
            switch value.content {
            case .mapping:
                stack[top].merges.append(value)
            case .sequence(let items) where items.allSatisfy({ if case .mapping = $0.content { true } else { false } }):
                stack[top].merges += items
            default:
                diagnostics.append(.error("the merge key '<<' takes a mapping or a list of mappings, found \(value.summary)", at: value))
            }
            return
        }
        if let text = key.scalarText {
            if let first = stack[top].keys[text] {
                diagnostics.append(.error("duplicate key '\(text)' (first set on line \(first.line))", at: key))
                return
            }
            stack[top].keys[text] = key.start
        }
        stack[top].pairs.append(.init(key: key, value: value))
    }

    /// Keys set in the mapping itself win; among merged mappings the first one wins.
    private func applyMerges(_ frame: inout Frame) {
        for source in frame.merges {
            guard case .mapping(let pairs) = source.content else { continue }
            for pair in pairs {
                guard let text = pair.key.scalarText else { continue }
                if frame.keys[text] == nil {
                    frame.keys[text] = pair.key.start
                    frame.pairs.append(pair)
                }
            }
        }
    }

    private static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}
