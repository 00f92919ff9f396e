import SandlockCore

/// The JSON Schema (2020-12) of the manifest, printed by `sandlock-jobs schema` and
/// committed as `schemas/sandlock-jobs.schema.json` (a test compares the two; regenerate
/// with `swift run sandlock-jobs schema > schemas/sandlock-jobs.schema.json`). The policy
/// sections come from `Policy.fields`; the rest of the manifest grammar is written below.
public enum ManifestSchema {
    /// The schema as `sandlock-jobs schema` prints it (ends with a newline).
    public static var json: String { document.rendered() }

    public static var document: JSONValue {
        guard case .object(var pairs) = root else { return root }
        pairs.append(("$defs", .object(definitions)))
        return .object(pairs)
    }

    /// `$defs`, in the order the schema file lists them.
    static var definitions: [(String, JSONValue)] {
        var defs: [(String, JSONValue)] = [("defaults", defaultsDef), ("policy", policyDef)]
        for section in ManifestKey.sections {
            defs.append((section, sectionDef(section)))
        }
        defs += [
            ("stage", stageDef), ("map", mapDef), ("over", overDef), ("process", processDef),
            ("retryValue", retryValueDef), ("retry", retryDef), ("backoff", backoffDef),
            ("disposition", dispositionDef), ("size", sizeDef), ("duration", durationDef),
            ("env", envDef), ("command", commandDef), ("policyRef", policyRefDef), ("names", namesDef),
            ("shell", shellDef),
        ]
        return defs
    }

    // MARK: Policies, from the table

    /// What each policy section is about; its keys come from `Policy.fields`.
    static let sectionDescriptions: [String: String] = [
        "filesystem": "Landlock filesystem rules.",
        "network": "TCP connect and bind rules, UDP and ICMP sockets.",
        "limits": "Resource limits.",
        "determinism": "Reproducible time, randomness and process layout.",
        "syscalls": "seccomp deny and allow lists.",
        "environment": "The environment of the process.",
    ]

    static var policyDef: JSONValue {
        var properties: [(String, JSONValue)] = [
            ("extends", [
                "$ref": "#/$defs/names",
                "description": "Policies this one builds on: lists are joined, scalars overridden; may chain, no cycles.",
            ]),
            ("description", ["type": "string"]),
        ]
        for section in ManifestKey.sections { properties.append((section, .object([("$ref", .string("#/$defs/\(section)"))]))) }
        for field in Policy.fields where field.manifest != nil && field.manifest?.section == nil {
            properties.append((field.manifest!.key, field.schema))
        }
        return .object([
            ("description", "What a sandboxed process may do; sections are named like sandlock's profile sections."),
            ("type", "object"),
            ("additionalProperties", false),
            ("properties", .object(properties)),
        ])
    }

    static func sectionDef(_ section: String) -> JSONValue {
        var pairs: [(String, JSONValue)] = []
        if let description = sectionDescriptions[section] { pairs.append(("description", .string(description))) }
        let properties = Policy.fields.compactMap { field -> (String, JSONValue)? in
            guard let key = field.manifest, key.section == section else { return nil }
            return (key.key, field.schema)
        }
        pairs += [("type", "object"), ("additionalProperties", false), ("properties", .object(properties))]
        return .object(pairs)
    }

    // MARK: The rest of the manifest

    static let root: JSONValue = [
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://sandlock-jobs.dev/schemas/sandlock-jobs.schema.json",
        "title": "sandlock-jobs manifest (version 1)",
        "description": "Stages, pipelines and fan-outs of sandboxed processes. Reference: docs/manifest.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "stages"],
        "properties": [
            "version": ["const": 1],
            "name": ["type": "string", "minLength": 1],
            "description": ["type": "string"],
            "workdir": [
                "type": "string",
                "minLength": 1,
                "description": "Tree the stages work in (default: the manifest's folder).",
            ],
            "params": [
                "type": "object",
                "description": "Parameters and their defaults, used as ${params.NAME}; `sandlock-jobs run --set NAME=VALUE` overrides one.",
                "propertyNames": ["pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"],
                "additionalProperties": ["type": ["string", "number", "boolean", "null"]],
            ],
            "env": ["$ref": "#/$defs/env"],
            "policies": [
                "type": "object",
                "additionalProperties": ["$ref": "#/$defs/policy"],
                "description": "Named, reusable policies.",
            ],
            "defaults": ["$ref": "#/$defs/defaults"],
            "shell": ["$ref": "#/$defs/shell"],
            "stages": [
                "type": "object",
                "minProperties": 1,
                "propertyNames": ["pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"],
                "additionalProperties": ["$ref": "#/$defs/stage"],
            ],
        ],
        "patternProperties": [
            "^x-": ["description": "Ignored; a place for YAML anchors (x-base: &base …)."],
        ],
    ]

    static let defaultsDef: JSONValue = [
        "description": "Values every stage gets unless it sets its own.",
        "type": "object",
        "additionalProperties": false,
        "properties": [
            "policy": ["$ref": "#/$defs/policyRef"],
            "timeout": ["$ref": "#/$defs/duration"],
            "retry": ["$ref": "#/$defs/retryValue"],
            "on_success": ["$ref": "#/$defs/disposition", "description": "What becomes of the stage's copy-on-write workspace when the stage succeeds (default: commit)."],
            "on_failure": ["$ref": "#/$defs/disposition", "description": "What becomes of the stage's copy-on-write workspace when the stage fails, times out or is killed at a limit (default: abort)."],
            "shell": ["$ref": "#/$defs/shell"],
            "cache": ["type": "boolean", "description": "false: no stage is reused from the cache unless it says cache: true (default: true)."],
        ],
    ]

    static let stageDef: JSONValue = [
        "type": "object",
        "additionalProperties": false,
        "properties": [
            "description": ["type": "string"],
            "needs": ["$ref": "#/$defs/names", "description": "Stages that must end first."],
            "run": ["$ref": "#/$defs/command"],
            "pipeline": [
                "type": "array",
                "minItems": 1,
                "items": ["$ref": "#/$defs/process"],
                "description": "Commands joined by kernel pipes.",
            ],
            "map": ["$ref": "#/$defs/map"],
            "reduce": ["$ref": "#/$defs/process"],
            "policy": ["$ref": "#/$defs/policyRef"],
            "env": ["$ref": "#/$defs/env"],
            "cwd": ["type": "string", "minLength": 1],
            "shell": ["$ref": "#/$defs/shell"],
            "timeout": ["$ref": "#/$defs/duration"],
            "retry": ["$ref": "#/$defs/retryValue"],
            "if": [
                "enum": ["success", "failure", "always"],
            ],
            "allow_failures": [
                "description": "Map workers that may fail: a count or a percentage.",
                "anyOf": [
                    ["type": "integer", "minimum": 0],
                    ["type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%$"],
                ],
            ],
            "on_success": ["$ref": "#/$defs/disposition", "description": "What becomes of the stage's copy-on-write workspace when the stage succeeds (default: commit)."],
            "on_failure": ["$ref": "#/$defs/disposition", "description": "What becomes of the stage's copy-on-write workspace when the stage fails, times out or is killed at a limit (default: abort)."],
            "inputs": ["$ref": "#/$defs/names", "description": "Paths and globs (relative to the workdir) whose contents are part of the stage's cache key; a directory stands for every file under it."],
            "outputs": ["$ref": "#/$defs/names", "description": "Paths inside the workdir the cache stores when the stage succeeds and puts back when it is reused."],
            "cache": ["type": "boolean", "description": "false: the stage always runs (default: defaults.cache, else true)."],
            "secrets": [
                "description": "Variables passed from the runner's environment to every process of the stage; never written to records, masked (***) in its run directory.",
                "anyOf": [
                    ["type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"],
                    ["type": "array", "items": ["type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"]],
                ],
            ],
            "artifacts": [
                "$ref": "#/$defs/names",
                "description": "Files or directories (inside the workdir) copied into the stage's run directory when it ends, whatever the outcome.",
            ],
        ],
        "oneOf": [
            [
                "required": ["run"],
                "not": [
                    "required": ["pipeline"],
                ],
            ],
            [
                "required": ["pipeline"],
                "not": [
                    "anyOf": [
                        [
                            "required": ["run"],
                        ],
                        [
                            "required": ["map"],
                        ],
                    ],
                ],
            ],
        ],
        "dependentRequired": [
            "reduce": ["map"],
            "allow_failures": ["map"],
        ],
    ]

    static let mapDef: JSONValue = [
        "description": "Fan-out: one sandboxed worker per item.",
        "type": "object",
        "additionalProperties": false,
        "required": ["over"],
        "properties": [
            "over": ["$ref": "#/$defs/over"],
            "max_parallel": ["type": "integer", "minimum": 1],
        ],
    ]

    static let overDef: JSONValue = [
        "type": "object",
        "additionalProperties": false,
        "properties": [
            "glob": ["type": "string", "minLength": 1],
            "items": [
                "type": "array",
                "minItems": 1,
                "items": [
                    "type": ["string", "number", "boolean"],
                ],
            ],
            "shards": [
                "type": "integer",
                "minimum": 1,
                "maximum": 1000000,
            ],
            "lines": ["type": "string", "minLength": 1],
            "matrix": [
                "description": "The cartesian product of the keys' values, less exclude, plus include (as in GitHub Actions); SANDLOCK_ITEM is each combination as JSON, SANDLOCK_MATRIX_<KEY> each value.",
                "type": "object",
                "minProperties": 1,
                "propertyNames": ["pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"],
                "properties": [
                    "exclude": matrixEntriesDef,
                    "include": matrixEntriesDef,
                ],
                "additionalProperties": [
                    "type": "array",
                    "minItems": 1,
                    "items": ["type": ["string", "number", "boolean"]],
                ],
            ],
        ],
        "minProperties": 1,
        "maxProperties": 1,
    ]

    /// `exclude:` and `include:` of a matrix: mappings of keys to scalar values.
    static let matrixEntriesDef: JSONValue = [
        "type": "array",
        "items": [
            "type": "object",
            "minProperties": 1,
            "additionalProperties": ["type": ["string", "number", "boolean"]],
        ],
    ]

    static let processDef: JSONValue = [
        "description": "A process of a stage: a pipeline member, or the reducer of a map stage (which gets the workers' stdout, in item order, on stdin).",
        "type": "object",
        "additionalProperties": false,
        "required": ["run"],
        "properties": [
            "run": ["$ref": "#/$defs/command"],
            "policy": ["$ref": "#/$defs/policyRef"],
            "env": ["$ref": "#/$defs/env"],
            "cwd": ["type": "string", "minLength": 1],
            "inputs": ["$ref": "#/$defs/names", "description": "A reducer's: part of its key only. A pipeline member's: the stage's."],
            "outputs": ["$ref": "#/$defs/names", "description": "Join the stage's outputs."],
        ],
    ]

    static let retryValueDef: JSONValue = [
        "anyOf": [
            [
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
            ],
            ["$ref": "#/$defs/retry"],
        ],
    ]

    static let retryDef: JSONValue = [
        "type": "object",
        "additionalProperties": false,
        "properties": [
            "limit": [
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
            ],
            "on": [
                "anyOf": [
                    [
                        "enum": ["failure", "exit", "signal", "timeout", "memory_limit", "process_limit", "spawn_failure"],
                    ],
                    [
                        "type": "array",
                        "items": [
                            "enum": ["failure", "exit", "signal", "timeout", "memory_limit", "process_limit", "spawn_failure"],
                        ],
                    ],
                ],
            ],
            "backoff": [
                "anyOf": [
                    ["$ref": "#/$defs/duration"],
                    ["$ref": "#/$defs/backoff"],
                ],
            ],
        ],
    ]

    static let backoffDef: JSONValue = [
        "type": "object",
        "additionalProperties": false,
        "properties": [
            "delay": ["$ref": "#/$defs/duration"],
            "factor": [
                "type": "number",
                "minimum": 1,
                "maximum": 100,
            ],
            "max": ["$ref": "#/$defs/duration"],
        ],
    ]

    static let dispositionDef: JSONValue = [
        "description": "commit: apply the changes to the workdir (journaled; refused on conflict); abort: throw them away; keep: leave the workspace for `sandlock-jobs commit` / `discard`.",
        "enum": ["commit", "abort", "keep"],
    ]

    static let sizeDef: JSONValue = [
        "description": "Bytes, or a number with K, M, G or T (powers of 1024), as `sandlock run -m`: 512M, 1G, 100K.",
        "anyOf": [
            ["type": "integer", "minimum": 0],
            ["type": "string", "pattern": "^[0-9]+([KMGTkmgt]|[Bb])?$"],
        ],
    ]

    static let durationDef: JSONValue = [
        "description": "Seconds, or a number with ms, s, m, h or d, as `sandlock run -t`: 500ms, 30s, 5m, 1h.",
        "anyOf": [
            ["type": "number", "minimum": 0],
            ["type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)?$"],
        ],
    ]

    static let envDef: JSONValue = [
        "description": "Environment variables (name: value).",
        "type": "object",
        "propertyNames": ["pattern": "^[A-Za-z_][A-Za-z0-9_]*$"],
        "additionalProperties": [
            "type": ["string", "number", "boolean", "null"],
        ],
    ]

    static let shellDef: JSONValue = [
        "description": "How a string run: runs. default: bash with pipefail that stops at the first failing command (an early pipeline member's SIGPIPE is no failure); bash: bash --noprofile --norc -eo pipefail -c; sh: sh -ec; a list: an argv with {0} where the script goes.",
        "anyOf": [
            ["enum": ["default", "bash", "sh"]],
            [
                "type": "array",
                "minItems": 1,
                "items": ["type": "string"],
                "contains": ["type": "string", "pattern": "\\{0\\}"],
            ],
        ],
    ]

    static let commandDef: JSONValue = [
        "description": "A string runs under the stage's shell; a list is the argv itself (no shell).",
        "anyOf": [
            ["type": "string", "minLength": 1],
            [
                "type": "array",
                "minItems": 1,
                "items": [
                    "type": ["string", "number", "boolean"],
                ],
            ],
        ],
    ]

    static let policyRefDef: JSONValue = [
        "description": "The name of a policy in `policies`, or a policy written in place.",
        "anyOf": [
            ["type": "string", "minLength": 1],
            ["$ref": "#/$defs/policy"],
        ],
    ]

    static let namesDef: JSONValue = [
        "description": "A name or a list of names.",
        "anyOf": [
            ["type": "string", "minLength": 1],
            [
                "type": "array",
                "items": ["type": "string", "minLength": 1],
            ],
        ],
    ]
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keys keep the order they are written in.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
}
