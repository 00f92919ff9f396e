import ArgumentParser
import SandlockJobs

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check manifests and report every error at once.",
        discussion: """
            Each problem is printed to stderr as `file:line:col: error: …` with the source line \
            and a caret; warnings the same way. Nothing runs.

            Examples:
              sandlock-jobs validate jobs/wordcount.yaml
              sandlock-jobs validate jobs/*.yaml
              sandlock-jobs validate --json jobs/hello.yaml | jq '.[0].valid'

            Exit codes: 0 all valid (warnings allowed), 65 a manifest is invalid, 66 a file is missing.
            """
    )

    @Argument(help: "Manifest files to check.")
    var files: [String]

    @Flag(help: "Print the findings as JSON on stdout (diagnostics are still printed to stderr).")
    var json = false

    @Flag(name: .shortAndLong, help: "Print nothing for valid manifests.")
    var quiet = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("Name at least one manifest file.") }
    }

    func run() throws {
        var missing = false, invalid = false
        var reports: [JSONValue] = []
        for file in files {
            guard let result = try? loadManifest(file) else {
                missing = true
                reports.append(.object([("file", .string(file)), ("valid", .bool(false)), ("error", .string("cannot read the file"))]))
                continue
            }
            printError(result.rendered)
            invalid = invalid || result.hasErrors
            if json {
                reports.append(.object([
                    ("file", .string(file)), ("valid", .bool(!result.hasErrors)),
                    ("diagnostics", .array(result.diagnostics.map { d in
                        .object([
                            ("severity", .string(d.severity.rawValue)),
                            ("line", d.mark.map { .int(Int64($0.line)) } ?? .null),
                            ("column", d.mark.map { .int(Int64($0.column)) } ?? .null),
                            ("message", .string(d.message)),
                        ])
                    })),
                ]))
            } else if !quiet, let plan = result.plan {
                let warnings = result.diagnostics.filter { $0.severity == .warning }.count
                print("\(file): valid (\(plan.stages.count) stage\(plan.stages.count == 1 ? "" : "s")\(warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : ""))")
            }
        }
        if json { print(JSONValue.array(reports).rendered(), terminator: "") }
        if missing { throw Exit.missingFile }
        if invalid { throw Exit.invalidManifest }
    }
}
