"""Typed exceptions for the engine's setup errors (sandlock_status), carrying its message."""


class SandlockError(Exception):
    """A sandbox could not be set up; `message` is the engine's, `status` its code."""

    status = None

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class ArgumentError(SandlockError, ValueError):
    status = 1


class PolicyError(SandlockError, ValueError):
    """A field's value is out of its notation or range, or fields contradict each other."""

    status = 2


class PathNotFoundError(SandlockError):
    status = 3


class KernelFeatureError(SandlockError):
    """The kernel cannot enforce part of the policy (see allow_degraded)."""

    status = 4


class UnsupportedError(SandlockError):
    status = 5


class CommandNotFoundError(SandlockError):
    status = 6


class SetupError(SandlockError):
    """The sandbox's child failed while confining itself or at exec."""

    status = 7


class SystemCallError(SandlockError, OSError):
    status = 8


class WorkspaceError(SandlockError):
    status = 9


_BY_STATUS = {cls.status: cls for cls in (ArgumentError, PolicyError, PathNotFoundError, KernelFeatureError,
                                          UnsupportedError, CommandNotFoundError, SetupError, SystemCallError,
                                          WorkspaceError)}


def check(status, message):
    """Raises the exception of a non-zero status."""
    if status:
        raise _BY_STATUS.get(status, SandlockError)(message or "sandlock error %d" % status)
