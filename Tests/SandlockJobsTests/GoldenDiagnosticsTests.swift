import Foundation
import Testing
@testable import SandlockJobs

/// Each `Fixtures/invalid/NAME.yaml` is a broken manifest; `NAME.expected` holds exactly what
/// `sandlock-jobs validate` prints on stderr for it: every diagnostic with line, column,
/// message, source line and caret.
@Suite struct GoldenDiagnosticsTests {
    static let names = Paths.files(in: Paths.fixtures + "/invalid", suffix: ".yaml").map { String($0.dropLast(5)) }

    @Test func thereAreAtLeastTwentyBrokenManifests() {
        #expect(Self.names.count >= 20)
    }

    @Test(arguments: names)
    func diagnostics(_ name: String) throws {
        let text = try String(contentsOfFile: "\(Paths.fixtures)/invalid/\(name).yaml", encoding: .utf8)
        let expected = try String(contentsOfFile: "\(Paths.fixtures)/invalid/\(name).expected", encoding: .utf8)
        let result = load(text, path: "invalid/\(name).yaml")
        #expect(result.hasErrors, "a broken manifest must have an error")
        #expect(result.plan == nil)
        #expect(result.rendered == expected)
    }

    @Test func positionsAndMessagesOfOneFile() {
        let result = load("""
            version: 1
            stages:
              prepare: { run: make, policy: { filesystem: { read: [/usr] } } }
              count:
                neds: [prepare]
                run: wc -l
                policy: { filesystem: { read: [/usr] } }
            """)
        #expect(result.errors.count == 1)
        let d = result.errors[0]
        #expect(d.mark == SourceMark(line: 5, column: 5))
        #expect(d.message == "stage 'count': unknown key 'neds' (did you mean 'needs'?)")
        #expect(result.rendered == """
            test.yaml:5:5: error: stage 'count': unknown key 'neds' (did you mean 'needs'?)
                neds: [prepare]
                ^~~~

            """)
    }

    @Test func invalidUTF8IsAnErrorAtItsPosition() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sandlock-jobs-utf8-\(getpid()).yaml").path
        try Data("version: 1\nstages:\n  a: { run: \"caf".utf8 + [0xE9] + "\" }\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try ManifestLoader().load(path: path)
        #expect(result.errors.map(\.message) == ["the file is not valid UTF-8"])
        #expect(result.errors.first?.mark == SourceMark(line: 3, column: 17))
    }
}
