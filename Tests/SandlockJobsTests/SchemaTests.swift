import Foundation
import Testing
@testable import SandlockJobs

@Suite struct SchemaTests {
    static let schemaPath = Paths.root + "/schemas/sandlock-jobs.schema.json"

    func schema() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.schemaPath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func embeddedSchemaIsTheSchemaFile() throws {
        let file = try String(contentsOfFile: Self.schemaPath, encoding: .utf8)
        #expect(ManifestSchema.json + "\n" == file, "run Scripts/check-schema.py --sync")
    }

    /// The parser's key sets and the schema's properties must be the same, section by section.
    @Test func schemaAndParserAgreeOnTheKeys() throws {
        let schema = try schema()
        let defs = try #require(schema["$defs"] as? [String: [String: Any]])
        for (name, keys) in ManifestVocabulary.sections {
            let node = name == "manifest" ? schema : defs[name]
            let properties = try #require(node?["properties"] as? [String: Any], "no $defs/\(name)")
            #expect(Set(properties.keys) == Set(keys), "section \(name)")
            #expect(node?["additionalProperties"] as? Bool == false, "section \(name) must reject unknown keys")
        }
        let sectioned = Set(ManifestVocabulary.sections.map(\.name))
        for (name, node) in defs where node["properties"] != nil {
            #expect(sectioned.contains(name), "$defs/\(name) has keys but no parser section")
        }
    }

    /// A file that uses every key: the parser must accept each one (no unknown-key errors).
    @Test func everyKeyOfTheVocabularyIsAccepted() throws {
        let path = Paths.fixtures + "/valid/everything.yaml"
        let result = try ManifestLoader().load(path: path)
        #expect(result.diagnostics.isEmpty, "\(result.rendered)")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for (name, keys) in ManifestVocabulary.sections {
            for key in keys { #expect(text.contains("\(key):"), "everything.yaml does not use \(name).\(key)") }
        }
    }

    @Test func examplesValidateWithoutWarnings() throws {
        let names = Paths.files(in: Paths.root + "/jobs", suffix: ".yaml")
        #expect(names.count >= 3)
        for name in names {
            let result = try ManifestLoader().load(path: Paths.root + "/jobs/" + name)
            #expect(result.diagnostics.isEmpty, "\(result.rendered)")
            #expect(result.plan != nil, "\(name)")
        }
    }
}
