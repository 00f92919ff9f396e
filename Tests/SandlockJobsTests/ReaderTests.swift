import Testing
@testable import SandlockJobs

@Suite struct ReaderTests {
    func read(_ text: String) -> (YAMLNode?, [Diagnostic]) {
        YAMLReader().read(SourceFile(path: "t.yaml", text: text))
    }

    func pairs(_ node: YAMLNode?) -> [(String, YAMLNode)] {
        guard case .mapping(let p)? = node?.content else { return [] }
        return p.map { ($0.key.scalarText ?? "?", $0.value) }
    }

    @Test func keepsLineAndColumnOfKeysAndValues() {
        let (root, d) = read("a: 1\nlist:\n  - x\n  - { k: v }\n")
        #expect(d.isEmpty)
        let p = pairs(root)
        #expect(p.map(\.0) == ["a", "list"])
        #expect(p[0].1.start == SourceMark(line: 1, column: 4))
        guard case .sequence(let items) = p[1].1.content else { Issue.record("not a list"); return }
        #expect(items[0].start == SourceMark(line: 3, column: 5))
        let inner = pairs(items[1])
        #expect(inner[0].1.start == SourceMark(line: 4, column: 10))
        #expect(inner[0].1.scalarText == "v")
    }

    @Test func aliasesCopyTheAnchoredNode() {
        let (root, d) = read("base: &b [1, 2]\ncopy: *b\n")
        #expect(d.isEmpty)
        let p = pairs(root)
        #expect(p[0].1.content == p[1].1.content)
    }

    @Test func mergeKeysFillOnlyMissingKeysAndFirstSourceWins() {
        let (root, d) = read("""
            a: &a { x: 1, y: 1 }
            b: &b { y: 2, z: 2 }
            c:
              <<: [*a, *b]
              x: 3
            """)
        #expect(d.isEmpty)
        let c = pairs(pairs(root)[2].1)
        #expect(c.map(\.0) == ["x", "y", "z"])
        #expect(c.map { $0.1.scalarText } == ["3", "1", "2"])
    }

    @Test func quotedMergeKeyIsAnOrdinaryKey() {
        let (root, d) = read("a: { \"<<\": 1 }\n")
        #expect(d.isEmpty)
        #expect(pairs(pairs(root)[0].1).map(\.0) == ["<<"])
    }

    @Test func duplicateKeysAreErrorsAtTheSecondKey() {
        let (_, d) = read("a: 1\nb: 2\na: 3\n")
        #expect(d.count == 1)
        #expect(d.first?.mark == SourceMark(line: 3, column: 1))
        #expect(d.first?.message == "duplicate key 'a' (first set on line 1)")
    }

    @Test func billionLaughsStopsAtTheNodeBound() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let (root, d) = read(text)
        #expect(root == nil)
        #expect(d.first?.message == "the document expands to more than \(YAMLReader().maxNodes) nodes (aliases nested too deeply?)")
    }

    @Test func customTagsAreErrors() {
        let (root, d) = read("a: !env HOME\nb: !!str 5\n")
        #expect(root != nil)
        #expect(d.map(\.message) == ["tag '!env' is not supported (manifests use plain YAML values)"])
        #expect(d.first?.mark == SourceMark(line: 1, column: 4))
    }

    @Test func nodeCountIncludesCollectionsAndExpandedAliases() {
        var reader = YAMLReader()
        reader.maxNodes = 7  // the mapping, 2 keys, the list, 2 items, and 1 more
        #expect(reader.read(SourceFile(path: "t", text: "a: [1, 2]\nb: 3\n")).root != nil)
        #expect(reader.read(SourceFile(path: "t", text: "a: &x [1, 2]\nb: *x\n")).root == nil)
        // Without aliases the message names the limit, not aliases.
        let (root, d) = reader.read(SourceFile(path: "t", text: "a: [1, 2, 3, 4, 5]\n"))
        #expect(root == nil)
        #expect(d.first?.message == "the document has more than 7 nodes (the limit of a manifest)")
    }

    @Test func deepNestingStopsAtTheDepthBound() {
        let (root, d) = read(String(repeating: "[", count: 100_000))
        #expect(root == nil)
        #expect(d.first?.message == "the document nests deeper than 256 levels")
    }

    @Test func syntaxErrorNamesTheProblemAndWhere() {
        let (root, d) = read("a: [1, 2\nb: 3\n")
        #expect(root == nil)
        #expect(d.first?.severity == .error)
        #expect(d.first?.message.hasPrefix("YAML syntax: ") == true)
    }

    @Test func scalarsRememberWhetherTheyArePlain() {
        let (root, _) = read("a: true\nb: 'true'\nc:\nd: ~\n")
        let p = pairs(root)
        guard case .scalar(let a) = p[0].1.content, case .scalar(let b) = p[1].1.content else { Issue.record(); return }
        #expect(a.isPlain && !b.isPlain)
        #expect(p[2].1.isNull && p[3].1.isNull && !p[1].1.isNull)
    }
}
