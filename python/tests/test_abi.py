"""The C ABI: the header and the loaded library agree."""

import os
import re

from sandlock import _native

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "include", "sandlock.h")


def test_every_function_of_the_header_is_exported_and_declared():
    with open(HEADER) as header:
        text = re.sub(r"/\*.*?\*/", "", header.read(), flags=re.S)  # declarations only
    declared = set(re.findall(r"\b(sandlock_[a-z_]+)\s*\(", text))
    assert len(declared) >= 19
    for name in declared:
        assert hasattr(_native.lib, name), name
    bound = set(re.findall(r'"(sandlock_[a-z_]+)"', open(_native.__file__).read()))
    assert declared == bound | {"sandlock_abi_version"}


def test_abi_version_matches_the_header():
    with open(HEADER) as header:
        version = int(re.search(r"#define SANDLOCK_ABI_VERSION (\d+)", header.read()).group(1))
    assert _native.lib.sandlock_abi_version() == version == _native.ABI_VERSION


def test_fields_come_from_the_policy_table():
    names = [field["name"] for field in _native.fields()]
    assert {"fs_readable", "max_memory", "net_allow", "workdir", "on_exit", "timeout"} <= set(names)
    assert next(f for f in _native.fields() if f["name"] == "max_memory")["kind"] == "size"


def _from_json(text):
    import ctypes

    handle = ctypes.c_void_p()
    status, message = _native.call(_native.lib.sandlock_policy_from_json, text.encode(), ctypes.byref(handle))
    if handle:
        _native.lib.sandlock_policy_free(handle)
    return status, message


def test_typed_json_round_trips_and_refuses_unknown_keys():
    import json

    from sandlock import Policy

    typed = Policy(fs_readable=["/usr"], max_memory="256M", timeout=30, env={"K": "V"}).to_json()
    assert typed["max_memory"] == 256 << 20 and typed["fs_readable"] == ["/usr"] and typed["env"] == {"K": "V"}
    assert _from_json(json.dumps(typed)) == (0, "")
    status, message = _from_json('{"fs_readabel": ["/usr"]}')
    assert status == 2 and "unknown policy field 'fs_readabel' (did you mean 'fs_readable'?)" in message
    status, message = _from_json("[1, 2]")
    assert status == 1 and "not a JSON object" in message


C_PROGRAM = r"""
#include <sandlock.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    char *error = NULL;
    sandlock_policy *policy = NULL;
    if (sandlock_policy_from_values("{\"fs_readable\": [\"/usr\", \"/lib\", \"/lib64\", \"/bin\", \"/etc\"]}", &policy, &error)) {
        fprintf(stderr, "policy: %s\n", error);
        sandlock_string_free(error);
        return 2;
    }
    const char *argv[] = {"tr", "a-z", "A-Z", NULL};
    sandlock_process *process = NULL;
    if (sandlock_spawn(policy, argv, (const uint8_t *)"from c", 6, 0, &process, &error)) {
        fprintf(stderr, "spawn: %s\n", error);
        sandlock_string_free(error);
        return 3;
    }
    sandlock_result *result = sandlock_wait(process);
    const uint8_t *bytes = NULL;
    size_t length = sandlock_result_stdout(result, &bytes);
    fwrite(bytes, 1, length, stdout);
    char *json = sandlock_result_json(result);
    int success = strstr(json, "\"success\":true") != NULL;
    sandlock_string_free(json);
    sandlock_result_free(result);
    sandlock_process_free(process);
    sandlock_policy_free(policy);
    return success ? 0 : 1;
}
"""


def test_a_c_program_uses_the_header_and_library(sandbox_kernel, tmp_path):
    import shutil
    import subprocess

    from conftest import require

    compiler = shutil.which("clang") or shutil.which("cc") or shutil.which("gcc")
    require("a C compiler (the Swift toolchain's clang)", None if compiler else "no clang, cc or gcc in PATH")
    source = tmp_path / "use.c"
    source.write_text(C_PROGRAM)
    library = os.path.dirname(_native.path)
    subprocess.run([compiler, "-std=c11", "-Wall", "-Werror", "-I", os.path.dirname(HEADER), str(source),
                    "-L", library, "-l:libSandlockC.so", "-Wl,-rpath," + library, "-o", str(tmp_path / "use")], check=True)
    run = subprocess.run([str(tmp_path / "use")], capture_output=True)
    assert (run.returncode, run.stdout) == (0, b"FROM C"), run.stderr
