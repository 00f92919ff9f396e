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
