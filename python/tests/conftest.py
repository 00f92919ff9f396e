"""Fixtures of the Python SDK's tests: the readable system trees, the interpreter, and the
kernel requirements (skipped with the reason; a failure under SANDLOCK_REQUIRE_ALL=1, as CI
runs them)."""

import ctypes
import os
import sys

import pytest

SYSTEM = [path for path in ("/usr", "/lib", "/lib64", "/bin", "/etc") if os.path.exists(path)]
# The interpreter running the tests, with its own trees: sandboxes run it as their python3.
PYTHON = sys.executable
PYTHON_TREES = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(PYTHON)))})
READABLE = SYSTEM + [tree for tree in PYTHON_TREES if not any(tree == s or tree.startswith(s + "/") for s in SYSTEM)]


def _landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # landlock_create_ruleset(VERSION)
    return max(abi, 0)


def _overlay_missing():
    with open("/proc/filesystems") as listing:
        if not any(line.rstrip().endswith("\toverlay") for line in listing) and not os.path.exists("/sys/module/overlay"):
            return "overlay is not in /proc/filesystems (modprobe overlay)"
    if os.geteuid() != 0:
        for sysctl, bad in (("/proc/sys/user/max_user_namespaces", "0"), ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
                            ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1")):
            try:
                with open(sysctl) as value:
                    if value.read().strip() == bad:
                        return "unprivileged user namespaces are off (%s is %s)" % (sysctl, bad)
            except OSError:
                pass
    return None


def require(name, missing):
    if missing is None:
        return
    reason = "%s: %s" % (name, missing)
    if os.environ.get("SANDLOCK_REQUIRE_ALL") == "1":
        pytest.fail("required (SANDLOCK_REQUIRE_ALL=1): " + reason)
    pytest.skip(reason)


@pytest.fixture
def sandbox_kernel():
    """A default sandbox: Landlock ABI 6 (signal and abstract-socket scopes), seccomp."""
    abi = _landlock_abi()
    require("Landlock ABI 6+ (a default sandbox)", None if abi >= 6 else "this kernel has Landlock ABI %d" % abi)


@pytest.fixture
def workspaces(sandbox_kernel):
    """Copy-on-write workspaces: overlayfs, and a user namespace when not root."""
    require("overlay workspaces", _overlay_missing())


@pytest.fixture
def base(sandbox_kernel, tmp_path):
    """The keywords most tests start from: the system and the interpreter readable, the
    test's directory writable."""
    return dict(fs_readable=READABLE, fs_writable=[str(tmp_path)])
