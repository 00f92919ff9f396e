import Foundation
import Testing
@testable import SandlockJobs
import SandlockTestSupport

/// Seeded property tests over random YAML (the reader's fuzz target in the normal test run):
/// random documents must read back as the tree they were written from, and random
/// mutations of real manifests must never crash the reader, decoder or planner and must
/// only produce diagnostics that point into the file.
@Suite struct PropertyTests {
    indirect enum Tree: Equatable {
        case scalar(String)
        case list([Tree])
        case map([(String, Tree)])

        static func == (a: Tree, b: Tree) -> Bool {
            switch (a, b) {
            case (.scalar(let x), .scalar(let y)): return x == y
            case (.list(let x), .list(let y)): return x == y
            case (.map(let x), .map(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: return false
            }
        }

        init(_ node: YAMLNode) {
            switch node.content {
            case .scalar(let s): self = .scalar(s.text)
            case .sequence(let items): self = .list(items.map(Tree.init))
            case .mapping(let pairs): self = .map(pairs.map { ($0.key.scalarText ?? "?", Tree($0.value)) })
            }
        }
    }

    static let words = ManifestVocabulary.sections.flatMap(\.keys) + ["a", "b", "x-y", "stage-1", "über", "ключ", "with space", "colon:inside", "#hash", "- dash", "'q'", "\"dq\"", "", "~", "null", "true", "<<", "*x", "&y", "multi\nline", "tab\there"]
    static let scalars = words + ["0", "42", "-7", "3.14", "512M", "1h30m", "2000-01-01T00:00:00Z", "/usr/lib", "data/*.txt", "echo \"$SANDLOCK_ITEM\" | wc -c", "%", "@at", "`tick`", "[x]", "{y}"]

    static func randomTree(_ rng: inout SplitMix64, depth: Int) -> Tree {
        let roll = Int.random(in: 0..<10, using: &rng)
        if depth >= 4 || roll < 4 { return .scalar(scalars.randomElement(using: &rng)!) }
        let count = Int.random(in: 0...5, using: &rng)
        if roll < 7 { return .list((0..<count).map { _ in randomTree(&rng, depth: depth + 1) }) }
        var keys: [String] = []
        while keys.count < count {
            let k = words.randomElement(using: &rng)!
            if !keys.contains(k) && k != "<<" { keys.append(k) }
        }
        return .map(keys.map { ($0, randomTree(&rng, depth: depth + 1)) })
    }

    /// Double-quoted unless the text is plainly safe; JSON escapes are valid YAML.
    static func quote(_ s: String, _ rng: inout SplitMix64) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_/.".unicodeScalars.contains($0)) }
        if plain && Bool.random(using: &rng) { return s }
        var out = ""
        JSONValue.quote(s, into: &out)
        return out
    }

    static func flow(_ t: Tree, _ rng: inout SplitMix64) -> String {
        switch t {
        case .scalar(let s): return quote(s, &rng)
        case .list(let items): return "[" + items.map { flow($0, &rng) }.joined(separator: ", ") + "]"
        case .map(let pairs): return "{" + pairs.map { quote($0.0, &rng) + ": " + flow($0.1, &rng) }.joined(separator: ", ") + "}"
        }
    }

    static func block(_ t: Tree, indent: Int, _ rng: inout SplitMix64) -> String {
        let pad = String(repeating: " ", count: indent)
        switch t {
        case .scalar: return " " + flow(t, &rng) + "\n"
        case .list(let items) where items.isEmpty: return " []\n"
        case .map(let pairs) where pairs.isEmpty: return " {}\n"
        case _ where Int.random(in: 0..<4, using: &rng) == 0: return " " + flow(t, &rng) + "\n"
        case .list(let items):
            return "\n" + items.map { pad + "-" + block($0, indent: indent + 2, &rng) }.joined()
        case .map(let pairs):
            return "\n" + pairs.map { pad + quote($0.0, &rng) + ":" + block($0.1, indent: indent + 2, &rng) }.joined()
        }
    }

    @Test func randomDocumentsReadBackAsTheirTree() throws {
        var rng = SplitMix64(state: 20_261_129)
        var checked = 0
        for _ in 0..<3_000 {
            let tree = Tree.map([("root", Self.randomTree(&rng, depth: 0))])
            let text = String(Self.block(tree, indent: 0, &rng).dropFirst())
            let (root, diagnostics) = YAMLReader().read(SourceFile(path: "gen.yaml", text: text))
            #expect(diagnostics.isEmpty, "\(diagnostics) in:\n\(text)")
            guard let root else { continue }
            #expect(Tree(root) == tree, "round trip failed for:\n\(text)")
            checked += 1
        }
        print("property: \(checked) generated documents read back as written")
    }

    @Test func mutatedManifestsNeverCrashAndDiagnosticsPointIntoTheFile() throws {
        var rng = SplitMix64(state: 42)
        var seeds: [String] = []
        for dir in ["/jobs"] { for f in Paths.files(in: Paths.root + dir, suffix: ".yaml") { seeds.append(try String(contentsOfFile: Paths.root + dir + "/" + f, encoding: .utf8)) } }
        for dir in ["/invalid", "/valid"] { for f in Paths.files(in: Paths.fixtures + dir, suffix: ".yaml") { seeds.append(try String(contentsOfFile: Paths.fixtures + dir + "/" + f, encoding: .utf8)) } }
        let alphabet = Array(":-[]{},&*!|>'\"#%@?\n \t<<~0123456789abcxyz\u{00e9}\u{2028}")
        var diagnosticsSeen = 0, plans = 0
        let iterations = 10_000
        for _ in 0..<iterations {
            var chars = Array(seeds.randomElement(using: &rng)!)
            for _ in 0...Int.random(in: 0...4, using: &rng) {
                guard !chars.isEmpty else { break }
                let at = Int.random(in: 0..<chars.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: chars.removeSubrange(at..<min(chars.count, at + Int.random(in: 1...8, using: &rng)))
                case 1: chars.insert(contentsOf: (0..<Int.random(in: 1...4, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }, at: at)
                case 2: chars[at] = alphabet.randomElement(using: &rng)!
                default:
                    let other = Int.random(in: 0..<chars.count, using: &rng)
                    chars.insert(contentsOf: chars[min(at, other)..<max(at, other)].prefix(40), at: at)
                }
            }
            let text = String(chars)
            let result = load(text, path: "valid/mutant.yaml")
            let lineCount = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).count
            for d in result.diagnostics {
                if let m = d.mark { #expect(m.line >= 1 && m.line <= lineCount + 1 && m.column >= 1, "\(d) in:\n\(text)") }
            }
            _ = result.rendered
            _ = result.plan.map { ($0.json.rendered(), $0.mermaid, $0.dot, $0.text) }
            diagnosticsSeen += result.diagnostics.count
            plans += result.plan == nil ? 0 : 1
        }
        print("property: \(iterations) mutated manifests, \(diagnosticsSeen) diagnostics, \(plans) still planned")
    }
}
