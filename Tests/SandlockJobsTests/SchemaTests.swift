import Foundation
import Testing
@testable import SandlockJobs
import SandlockCore

@Suite struct SchemaTests {
    static let schemaPath = Paths.root + "/schemas/sandlock-jobs.schema.json"

    func schema() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.schemaPath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The committed file is what `sandlock-jobs schema` prints (generated from the table).
    @Test func schemaFileIsTheGeneratedSchema() throws {
        let file = try String(contentsOfFile: Self.schemaPath, encoding: .utf8)
        #expect(ManifestSchema.json == file, "schemas/sandlock-jobs.schema.json is stale; regenerate it: swift run sandlock-jobs schema > schemas/sandlock-jobs.schema.json")
    }

    /// Every manifest key of `Policy.fields` is in the schema with the table's range.
    @Test func policySectionsComeFromTheTable() throws {
        let schema = try schema()
        let defs = try #require(schema["$defs"] as? [String: [String: Any]])
        for field in Policy.fields {
            guard let key = field.manifest else { continue }
            let section = key.section.map { defs[$0] } ?? defs["policy"]
            let properties = try #require(section?["properties"] as? [String: [String: Any]], "\(key.path)")
            let property = try #require(properties[key.key], "\(key.path) missing from the schema")
            if case .integer(_, let range, _) = field.grammar {
                #expect(property["minimum"] as? Int == range.lowerBound, "\(key.path)")
                #expect(property["maximum"] as? Int == (range.upperBound == .max ? nil : range.upperBound), "\(key.path)")
            }
        }
        let cores = try #require(((defs["limits"]?["properties"] as? [String: [String: Any]])?["cpu_cores"]?["items"]) as? [String: Any])
        #expect(cores["maximum"] as? Int == 1023)
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
