import Testing
@testable import SandlockCore

/// The TOML that profiles use, read strictly, with positions (TOMLReader).
@Suite struct TOMLReaderTests {
    typealias R = TOMLReader

    func values(_ text: String) throws -> [String: R.Value] {
        Dictionary(uniqueKeysWithValues: try R.read(text).map { ($0.key, $0.value.value) })
    }

    func failure(_ text: String) -> (line: Int, column: Int, message: String)? {
        do {
            _ = try R.read(text)
            return nil
        } catch {
            return (error.position.line, error.position.column, error.message)
        }
    }

    @Test func scalarsArraysAndTables() throws {
        let read = try values("""
            # a profile
            name = "a \\"quoted\\" \\u00e9 \\t tab"   # trailing comment
            'literal key' = 'C:\\path\\n'
            count = 1_000
            mask = 0x1F
            negative = -3
            on = true
            list = [
              "/usr",  # the system
              "/lib",
            ]
            empty = []
            inline = { A = "1", "B C" = "2" }
            env.CC = "gcc"
            env.LANG = "C.UTF-8"

            [table]
            x = 1
            """)
        #expect(read["name"] == .string("a \"quoted\" é \t tab"))
        #expect(read["literal key"] == .string("C:\\path\\n"))
        #expect(read["count"] == .integer(1000) && read["mask"] == .integer(31) && read["negative"] == .integer(-3))
        #expect(read["on"] == .bool(true))
        guard case .array(let list) = read["list"], case .table(let env) = read["env"], case .table(let inline) = read["inline"],
              case .table(let table) = read["table"] else {
            Issue.record("\(read)")
            return
        }
        #expect(list.map(\.value) == [.string("/usr"), .string("/lib")])
        #expect(list.map(\.position.line) == [9, 10])
        #expect(read["empty"] == .array([]))
        #expect(env.map(\.key) == ["CC", "LANG"] && inline.map(\.key) == ["A", "B C"])
        #expect(table.map(\.key) == ["x"])
        let entries = try R.read("a = 1\n  b = \"x\"\n")
        #expect(entries[1].keyPosition == R.Position(line: 2, column: 3) && entries[1].value.position == R.Position(line: 2, column: 7))
    }

    @Test func whatProfilesDoNotUseIsRefusedByName() {
        #expect(failure("x = 1.5\n")?.message.contains("floats and dates are not used by profiles") == true)
        #expect(failure("x = 2024-01-01\n")?.message.contains("floats and dates") == true)
        #expect(failure("x = \"\"\"\nmulti\n\"\"\"\n")?.message.contains("multi-line strings") == true)
        #expect(failure("[[servers]]\n")?.message.contains("arrays of tables") == true)
    }

    @Test func brokenDocumentsSayWhere() {
        let cases: [(String, Int, Int, String)] = [
            ("a = 1\na = 2\n", 2, 1, "key 'a' defined twice"),
            ("[env]\nA = \"1\"\n[env]\n", 3, 1, "table [env] defined twice"),
            ("a = \"open\n", 1, 5, "unterminated string"),
            ("a = [1, 2\n", 2, 1, "expected ',' or ']' in the array"),
            ("a = yes\n", 1, 5, "'yes' is not a TOML value"),
            ("a = 1 b = 2\n", 1, 7, "expected the end of the line"),
            ("a = \"\\q\"\n", 1, 8, "unknown escape '\\q'"),
            ("= 1\n", 1, 1, "expected a key"),
            ("a 1\n", 1, 3, "expected '=' after the key 'a'"),
            ("a = 012\n", 1, 5, "'012' is not a TOML value"),
        ]
        for (text, line, column, message) in cases {
            let found = failure(text)
            #expect(found?.line == line && found?.column == column && found?.message.contains(message) == true, "\(text): \(String(describing: found))")
        }
    }
}
