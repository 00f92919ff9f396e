import ArgumentParser
import SandlockJobs

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema of the manifest.",
        discussion: """
            Editors with the YAML language server validate and complete manifests against it:
              # yaml-language-server: $schema=../schemas/sandlock-jobs.schema.json

            The policy sections are generated from SandlockCore's table of policy fields;
            schemas/sandlock-jobs.schema.json is this command's output (regenerate it with
            `swift run sandlock-jobs schema > schemas/sandlock-jobs.schema.json`).

            Examples:
              sandlock-jobs schema > sandlock-jobs.schema.json
              sandlock-jobs schema --keys    # the keys the parser accepts, per section
            """
    )

    @Flag(help: "Print, as JSON, the keys the parser accepts in each section (the schema's $defs) instead.")
    var keys = false

    func run() {
        if keys {
            let sections = ManifestVocabulary.sections.map { ($0.name, JSONValue.array($0.keys.map(JSONValue.string))) }
            print(JSONValue.object(sections).rendered(), terminator: "")
        } else {
            print(ManifestSchema.json, terminator: "")
        }
    }
}
