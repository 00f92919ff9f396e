"""ctypes bindings of include/sandlock.h (libSandlockC.so). Keep in step with the header."""

import ctypes
import json
import os

ABI_VERSION = 1
LIBRARY_NAME = "libSandlockC.so"

# sandlock_spawn flags
SPAWN_DRY_RUN = 1
SPAWN_INHERIT_OUTPUT = 2


def _candidates():
    """Where the library may be: $SANDLOCK_LIBRARY, beside this module (installed by
    `pip install ./python`), then the repository's own builds (a source checkout)."""
    explicit = os.environ.get("SANDLOCK_LIBRARY")
    if explicit:
        return [explicit]
    here = os.path.dirname(os.path.abspath(__file__))
    repository = os.path.dirname(os.path.dirname(here))
    return [os.path.join(here, LIBRARY_NAME)] + [
        os.path.join(repository, ".build", configuration, LIBRARY_NAME) for configuration in ("release", "debug")
    ]


def _load():
    tried = []
    for path in _candidates():
        if os.path.exists(path):
            library = ctypes.CDLL(path)
            break
        tried.append(path)
    else:
        raise ImportError(
            "sandlock: cannot find %s (looked in %s); install the package with `pip install ./python` "
            "from the repository (it builds the library with swift), or set SANDLOCK_LIBRARY to a built "
            "libSandlockC.so" % (LIBRARY_NAME, ", ".join(tried))
        )
    library.sandlock_abi_version.restype = ctypes.c_uint32
    version = library.sandlock_abi_version()
    if version != ABI_VERSION:
        raise ImportError("sandlock: %s has ABI version %d, this module needs %d; rebuild and reinstall both"
                          % (path, version, ABI_VERSION))
    _declare(library)
    return library, path


_p = ctypes.c_void_p
_error = ctypes.POINTER(ctypes.c_void_p)
_bytes = ctypes.POINTER(ctypes.c_uint8)


def _declare(lib):
    signatures = {
        "sandlock_string_free": (None, [_p]),
        "sandlock_policy_fields": (_p, []),
        "sandlock_policy_from_json": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(_p), _error]),
        "sandlock_policy_from_values": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(_p), _error]),
        "sandlock_policy_to_json": (_p, [_p]),
        "sandlock_policy_free": (None, [_p]),
        "sandlock_spawn": (ctypes.c_int, [_p, ctypes.POINTER(ctypes.c_char_p), _bytes, ctypes.c_size_t,
                                          ctypes.c_uint32, ctypes.POINTER(_p), _error]),
        "sandlock_process_pid": (ctypes.c_int32, [_p]),
        "sandlock_process_ports": (_p, [_p]),
        "sandlock_kill": (None, [_p]),
        "sandlock_wait": (_p, [_p]),
        "sandlock_process_free": (None, [_p]),
        "sandlock_pipeline": (ctypes.c_int, [ctypes.c_size_t, ctypes.POINTER(_p),
                                             ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p)), _bytes,
                                             ctypes.c_size_t, ctypes.POINTER(_p), _error]),
        "sandlock_confine": (ctypes.c_int, [_p, _error]),
        "sandlock_result_json": (_p, [_p]),
        "sandlock_result_stdout": (ctypes.c_size_t, [_p, ctypes.POINTER(_bytes)]),
        "sandlock_result_stderr": (ctypes.c_size_t, [_p, ctypes.POINTER(_bytes)]),
        "sandlock_result_free": (None, [_p]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


lib, path = _load()


def take_string(pointer):
    """A string the library returned, freed."""
    if not pointer:
        return ""
    try:
        return ctypes.string_at(pointer).decode("utf-8", "replace")
    finally:
        lib.sandlock_string_free(pointer)


def call(function, *arguments):
    """Calls a function ending in `char **error`; returns (status, message)."""
    message = ctypes.c_void_p()
    status = function(*arguments, ctypes.byref(message))
    return status, take_string(message.value) if status else ""


def argv(command):
    """A NULL-terminated char *[] (kept alive by the returned array)."""
    items = [os.fsencode(item) for item in command] + [None]
    return (ctypes.c_char_p * len(items))(*items)


def input_buffer(data):
    if data is None:
        return None, 0
    if isinstance(data, str):
        data = data.encode()
    return (ctypes.c_uint8 * len(data)).from_buffer_copy(data), len(data)


def fields():
    return json.loads(take_string(lib.sandlock_policy_fields()))
