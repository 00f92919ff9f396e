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
