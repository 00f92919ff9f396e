#!/usr/bin/env python3
"""Checks that the manifest's JSON Schema, the Swift parser and the examples agree.

1. schemas/sandlock-jobs.schema.json is a valid JSON Schema (2020-12).
2. Every jobs/*.yaml (and Tests/SandlockJobsTests/Fixtures/valid/*.yaml) validates against
   it with the independent `jsonschema` package, and with `sandlock-jobs validate`.
3. Every broken manifest of Tests/SandlockJobsTests/Fixtures/invalid whose error is about
   shape or values is rejected by the schema too (PARSER_ONLY lists the others).
4. The keys each schema section declares equal the keys the parser accepts
   (`sandlock-jobs schema --keys`; sections are the schema's $defs, `manifest` the root).
5. `sandlock-jobs schema` prints exactly the schema file: the file is generated (its policy
   sections from SandlockCore's `Policy.fields`); regenerate it with
   `swift run sandlock-jobs schema > schemas/sandlock-jobs.schema.json`.

Usage: Scripts/check-schema.py [--binary PATH]
  --binary PATH  the sandlock-jobs executable (default: $SANDLOCK_JOBS, else the newest
                 .build*/debug/sandlock-jobs)
Exits 0 when everything agrees, 1 on a disagreement, 2 when something needed is missing.
"""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "schemas", "sandlock-jobs.schema.json")


# Broken manifests whose errors only the parser can see: references between stages and
# policies, cycles, paths, and YAML details (duplicate keys) PyYAML lets through.
PARSER_ONLY = {
    "cycle", "self-need", "unknown-need", "unknown-policy", "unknown-extends", "extends-cycle",
    "escaping-path", "tilde-path", "write-root", "duplicate-key",
}


def fail_setup(message):
    print(f"check-schema: {message}", file=sys.stderr)
    print("check-schema: FAILED (setup)")
    sys.exit(2)


def find_binary(explicit):
    if explicit:
        return explicit
    if os.environ.get("SANDLOCK_JOBS"):
        return os.environ["SANDLOCK_JOBS"]
    candidates = glob.glob(os.path.join(ROOT, ".build*", "debug", "sandlock-jobs"))
    candidates += glob.glob(os.path.join(ROOT, ".build*", "release", "sandlock-jobs"))
    candidates = [c for c in candidates if os.access(c, os.X_OK)]
    if not candidates:
        fail_setup("no sandlock-jobs binary; build it (swift build --product sandlock-jobs) or pass --binary")
    return max(candidates, key=os.path.getmtime)


def yaml12_loader(yaml):
    """A SafeLoader with YAML 1.2 core booleans: only true/false, so keys like `on` and
    values like `yes` stay strings, as sandlock-jobs (libyaml, 1.2 core schema) reads them."""
    import re

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    return Loader


def main(argv):
    binary = None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--binary" and args:
            binary = args.pop(0)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    try:
        import jsonschema
        import yaml
    except ImportError as e:
        fail_setup(f"{e.name} is missing: pip install jsonschema pyyaml")

    problems = []
    schema_text = open(SCHEMA, encoding="utf-8").read()
    schema = json.loads(schema_text)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        problems.append(f"{SCHEMA}: not a valid JSON Schema: {e.message}")
    validator = jsonschema.Draft202012Validator(schema)
    loader = yaml12_loader(yaml)

    binary = find_binary(binary)

    # 1. Examples: the independent validator, then our parser.
    manifests = sorted(glob.glob(os.path.join(ROOT, "jobs", "*.yaml")))
    manifests += sorted(glob.glob(os.path.join(ROOT, "Tests", "SandlockJobsTests", "Fixtures", "valid", "*.yaml")))
    for path in manifests:
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            document = yaml.load(f, Loader=loader)
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{rel}: schema: {where}: {error.message}")
    if manifests:
        run = subprocess.run([binary, "validate", "--quiet"] + manifests, capture_output=True, text=True)
        if run.returncode != 0:
            problems.append(f"sandlock-jobs validate exited {run.returncode}:\n{run.stderr.rstrip()}")

    # 2. Broken manifests: the schema must reject each one whose error is about shape or
    #    values; only the cross-reference checks (and YAML details PyYAML does not flag)
    #    are the parser's alone.
    invalid = sorted(glob.glob(os.path.join(ROOT, "Tests", "SandlockJobsTests", "Fixtures", "invalid", "*.yaml")))
    rejected = 0
    for path in invalid:
        name = os.path.basename(path)[:-5]
        try:
            with open(path, encoding="utf-8") as f:
                document = yaml.load(f, Loader=loader)
            schema_rejects = not validator.is_valid(document)
        except yaml.YAMLError:
            schema_rejects = True
        rejected += schema_rejects
        if not schema_rejects and name not in PARSER_ONLY:
            problems.append(f"{os.path.relpath(path, ROOT)}: the parser rejects it but the schema accepts it")
        if schema_rejects and name in PARSER_ONLY:
            problems.append(f"{os.path.relpath(path, ROOT)}: listed as parser-only but the schema rejects it too")

    # 3. Key sets: parser vocabulary against the schema's properties.
    keys = json.loads(subprocess.run([binary, "schema", "--keys"], capture_output=True, text=True, check=True).stdout)
    defs = schema.get("$defs", {})
    for section, accepted in keys.items():
        node = schema if section == "manifest" else defs.get(section)
        if node is None:
            problems.append(f"section '{section}': the parser accepts it but the schema has no $defs/{section}")
            continue
        declared = set(node.get("properties", {}))
        for k in sorted(set(accepted) - declared):
            problems.append(f"section '{section}': the parser accepts '{k}' but the schema does not declare it")
        for k in sorted(declared - set(accepted)):
            problems.append(f"section '{section}': the schema declares '{k}' but the parser rejects it")
        if node.get("additionalProperties") is not False:
            problems.append(f"section '{section}': the schema must set additionalProperties: false (unknown keys are errors)")
    for name, node in defs.items():
        if "properties" in node and name not in keys:
            problems.append(f"$defs/{name}: the schema declares keys the parser has no section for")

    # 4. The file is the generated schema.
    printed = subprocess.run([binary, "schema"], capture_output=True, text=True, check=True).stdout
    if printed != schema_text:
        problems.append("`sandlock-jobs schema` differs from schemas/sandlock-jobs.schema.json; regenerate it: "
                        "swift run sandlock-jobs schema > schemas/sandlock-jobs.schema.json")

    for p in problems:
        print(f"check-schema: {p}", file=sys.stderr)
    if problems:
        print(f"check-schema: FAILED ({len(problems)} problem{'s' if len(problems) != 1 else ''})")
        return 1
    print(f"check-schema: ok ({len(manifests)} manifests valid with jsonschema and sandlock-jobs; "
          f"{rejected} of {len(invalid)} broken manifests rejected by the schema too, the rest need the parser; "
          f"{len(keys)} key sets agree; schema output matches)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
