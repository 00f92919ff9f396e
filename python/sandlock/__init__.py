"""sandlock-jobs' sandbox engine from Python (ctypes over libSandlockC.so, include/sandlock.h).

    from sandlock import Sandbox, Policy, confine

    policy = Policy(fs_readable=["/usr", "/lib", "/etc"], max_memory="256M")
    result = Sandbox(policy).run(["python3", "-c", "print('hello')"], timeout=30)
    assert result.success and b"hello" in result.stdout
"""

from ._native import ABI_VERSION
from ._policy import FIELDS, Policy
from ._sandbox import Change, Pipeline, PipelineResult, Process, Result, Sandbox, Stage, confine
from .errors import (ArgumentError, CommandNotFoundError, KernelFeatureError, PathNotFoundError, PolicyError,
                     SandlockError, SetupError, SystemCallError, UnsupportedError, WorkspaceError)

__all__ = [
    "ABI_VERSION", "FIELDS", "Policy", "Sandbox", "Process", "Result", "PipelineResult", "Change", "Stage", "Pipeline",
    "confine", "SandlockError", "ArgumentError", "PolicyError", "PathNotFoundError", "KernelFeatureError",
    "UnsupportedError", "CommandNotFoundError", "SetupError", "SystemCallError", "WorkspaceError",
]
