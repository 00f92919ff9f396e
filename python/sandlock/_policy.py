"""Policy: sandlock's field names and value forms, parsed by the engine's policy table."""

import ctypes
import json
import os

from . import _native
from .errors import check

FIELDS = {field["name"]: field for field in _native.fields()}

# Fields holding host paths, made absolute here so that "." means the caller's directory.
_HOST_PATHS = {"workdir", "fs_storage"}


def _plain(name, value):
    """A keyword's value as JSON for sandlock_policy_from_values."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        value = [os.fspath(item) if isinstance(item, os.PathLike) else item for item in value]
        if FIELDS[name]["kind"] == "paths":
            value = [os.path.abspath(item) if isinstance(item, str) else item for item in value]
    elif name in _HOST_PATHS and isinstance(value, str):
        value = os.path.abspath(value)
    return value


class Policy:
    """What a sandboxed process may do, with sandlock's keyword names and value forms:

        Policy(fs_readable=["/usr", "/lib"], fs_writable=["/tmp/work"], max_memory="256M",
               max_processes=10, net_allow=["example.com:443"], clean_env=True, timeout=30)

    Each value is parsed exactly as `sandlock run` parses the field's flag; a bad value raises
    PolicyError with the engine's message, an unknown keyword TypeError naming it.
    """

    def __init__(self, **fields):
        for name in fields:
            if name not in FIELDS:
                status, message = _native.call(_native.lib.sandlock_policy_from_values,
                                               json.dumps({name: None}).encode(), ctypes.byref(ctypes.c_void_p()))
                raise TypeError("Policy() got an unexpected keyword argument %r: %s" % (name, message))
        self._values = {name: _plain(name, value) for name, value in fields.items() if value is not None}
        _NativePolicy(self._values).free()  # checks every value now, not at the first run

    def __getattr__(self, name):
        if name.startswith("_") or name not in FIELDS:
            raise AttributeError(name)
        return self._values.get(name)

    def replace(self, **fields):
        """A copy with these fields changed (None: back to the default)."""
        values = dict(self._values)
        values.update(fields)
        return Policy(**values)

    def to_json(self):
        """The engine's typed JSON of the policy (`sandlock inspect`'s form)."""
        native = _NativePolicy(self._values)
        try:
            return json.loads(_native.take_string(_native.lib.sandlock_policy_to_json(native.handle)))
        finally:
            native.free()

    def __eq__(self, other):
        return isinstance(other, Policy) and self._values == other._values

    def __repr__(self):
        return "Policy(%s)" % ", ".join("%s=%r" % item for item in sorted(self._values.items()))


class _NativePolicy:
    """A sandlock_policy * made from values, freed by free()."""

    def __init__(self, values):
        handle = ctypes.c_void_p()
        status, message = _native.call(_native.lib.sandlock_policy_from_values,
                                       json.dumps(values).encode(), ctypes.byref(handle))
        check(status, message)
        self.handle = handle

    def free(self):
        if self.handle:
            _native.lib.sandlock_policy_free(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()


def native(policy, **extra):
    """The policy with per-call fields (timeout, name) on top, as a context manager."""
    values = dict(policy._values if policy is not None else {})
    values.update({name: _plain(name, value) for name, value in extra.items() if value is not None})
    return _NativePolicy(values)
