"""Sandbox, pipelines, dry runs and confine() over the C ABI."""

import ctypes
import json
import threading
from dataclasses import dataclass, field
from typing import List, Optional

from . import _native
from ._policy import Policy, native
from .errors import check


@dataclass(frozen=True)
class Change:
    """A path a run added (A), modified (M), deleted (D) or renamed (R, from `old_path`),
    relative to the workdir."""

    kind: str
    path: str
    old_path: Optional[str] = None


@dataclass
class Result:
    """How a sandboxed command ended. `reason` is exited, signaled, timeout, killed or
    memory_limit; `stdout` and `stderr` are bytes."""

    success: bool
    reason: str
    exit_code: Optional[int]
    signal: Optional[int]
    stdout: bytes
    stderr: bytes
    wall_time: float
    user_time: float
    system_time: float
    peak_memory: int
    changes: List[Change] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @classmethod
    def _take(cls, handle):
        """A Result from a sandlock_result *, which is freed."""
        try:
            details = json.loads(_native.take_string(_native.lib.sandlock_result_json(handle)))

            def output(function):
                pointer = _native._bytes()
                length = function(handle, ctypes.byref(pointer))
                return ctypes.string_at(pointer, length) if length else b""

            stdout = output(_native.lib.sandlock_result_stdout)
            stderr = output(_native.lib.sandlock_result_stderr)
        finally:
            _native.lib.sandlock_result_free(handle)
        workspace = details.get("workspace") or {}
        changes = [Change(c["kind"], c["path"], c.get("from")) for c in workspace.get("changes") or []]
        return cls(success=details["success"], reason=details["reason"], exit_code=details.get("exit_code"),
                   signal=details.get("signal"), stdout=stdout, stderr=stderr, wall_time=details["wall_time"],
                   user_time=details["user_time"], system_time=details["system_time"],
                   peak_memory=details["peak_memory"], changes=changes, details=details)


@dataclass
class PipelineResult(Result):
    """A pipeline's end: `stdout` is the last stage's, `stderr` every stage's in order;
    exit code, signal and reason are the last stage's; `success` needs every stage to
    succeed (pipefail). `stages` holds each stage's own Result."""

    stages: List[Result] = field(default_factory=list)


class Process:
    """A running sandbox (Sandbox.spawn): wait(), kill(), pid, ports()."""

    def __init__(self, handle):
        self._handle = handle
        self._lock = threading.Lock()
        self._result = None

    @property
    def pid(self):
        """The pid of the sandbox's init (the command's parent)."""
        with self._lock:
            return _native.lib.sandlock_process_pid(self._handle) if self._handle else None

    def ports(self):
        """With a name and port_remap: {virtual_port: real_port} of the ports bound so far."""
        with self._lock:
            if not self._handle:
                return {}
            mapping = json.loads(_native.take_string(_native.lib.sandlock_process_ports(self._handle)))
        return {int(virtual): real for virtual, real in mapping.items()}

    def kill(self):
        with self._lock:
            if self._handle:
                _native.lib.sandlock_kill(self._handle)

    def wait(self):
        """Blocks (without the GIL) until the sandbox ended; returns its Result."""
        if self._result is None:
            handle = self._handle
            if handle is None:
                raise ValueError("sandlock: this process was closed before its result was taken")
            self._result = Result._take(_native.lib.sandlock_wait(handle))
            self.close()
        return self._result

    def close(self):
        """Frees the handle; a sandbox still running is killed."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle:
            _native.lib.sandlock_process_free(handle)

    def __del__(self):
        if getattr(self, "_handle", None):
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Sandbox:
    """Runs commands confined by a Policy. `name` registers the sandbox (sandlock ps, and
    ports() while it runs)."""

    def __init__(self, policy: Optional[Policy] = None, name: Optional[str] = None):
        self.policy = policy if policy is not None else Policy()
        self.name = name
        self._running = []
        self._lock = threading.Lock()

    def spawn(self, cmd, timeout=None, input=None, *, dry_run=False, capture=True):
        """Starts cmd and returns a Process once it has exec'd."""
        flags = (_native.SPAWN_DRY_RUN if dry_run else 0) | (0 if capture else _native.SPAWN_INHERIT_OUTPUT)
        data, length = _native.input_buffer(input)
        handle = ctypes.c_void_p()
        with native(self.policy, timeout=timeout, name=self.name) as policy:
            status, message = _native.call(_native.lib.sandlock_spawn, policy.handle, _native.argv(cmd),
                                           data, length, flags, ctypes.byref(handle))
        check(status, message)
        return Process(handle)

    def run(self, cmd, timeout=None, input=None, *, capture=True):
        """Runs cmd to the end (timeout in seconds kills the whole sandbox)."""
        return self._run(self.spawn(cmd, timeout=timeout, input=input, capture=capture))

    def dry_run(self, cmd, timeout=None, input=None):
        """Runs cmd over a copy-on-write workspace of the policy's workdir and aborts it:
        `result.changes` lists what would have changed."""
        return self._run(self.spawn(cmd, timeout=timeout, input=input, dry_run=True))

    def _run(self, process):
        with self._lock:
            self._running.append(process)
        try:
            return process.wait()
        finally:
            with self._lock:
                self._running.remove(process)
            process.close()

    def ports(self):
        """{virtual_port: real_port} of the runs of this sandbox in progress (port_remap with
        a name); {} when none runs."""
        with self._lock:
            running = list(self._running)
        mapping = {}
        for process in running:
            mapping.update(process.ports())
        return mapping

    def cmd(self, cmd):
        """A pipeline stage: `Sandbox(a).cmd([...]) | Sandbox(b).cmd([...])`."""
        return Stage(self, list(cmd))


class Stage:
    def __init__(self, sandbox, argv):
        self.sandbox = sandbox
        self.argv = argv

    def __or__(self, other):
        return Pipeline([self]) | other

    def run(self, timeout=None, input=None):
        return self.sandbox.run(self.argv, timeout=timeout, input=input)


class Pipeline:
    """Stages joined by kernel pipes, each under its own policy."""

    def __init__(self, stages):
        self.stages = list(stages)

    def __or__(self, other):
        if isinstance(other, Stage):
            return Pipeline(self.stages + [other])
        if isinstance(other, Pipeline):
            return Pipeline(self.stages + other.stages)
        return NotImplemented

    def run(self, timeout=None, input=None):
        """Runs every stage at once (timeout applies to each) and returns a PipelineResult."""
        count = len(self.stages)
        policies = []
        try:
            for stage in self.stages:
                policies.append(native(stage.sandbox.policy, timeout=timeout, name=stage.sandbox.name))
            handles = (ctypes.c_void_p * count)(*[policy.handle for policy in policies])
            argvs = [_native.argv(stage.argv) for stage in self.stages]
            argv_array = (ctypes.POINTER(ctypes.c_char_p) * count)(
                *[ctypes.cast(argv, ctypes.POINTER(ctypes.c_char_p)) for argv in argvs])
            data, length = _native.input_buffer(input)
            results = (ctypes.c_void_p * count)()
            status, message = _native.call(_native.lib.sandlock_pipeline, count, handles, argv_array,
                                           data, length, results)
        finally:
            for policy in policies:
                policy.free()
        check(status, message)
        stages = [Result._take(results[index]) for index in range(count)]
        last = stages[-1]
        return PipelineResult(
            success=all(stage.success for stage in stages), reason=last.reason, exit_code=last.exit_code,
            signal=last.signal, stdout=last.stdout, stderr=b"".join(stage.stderr for stage in stages),
            wall_time=max(stage.wall_time for stage in stages), user_time=sum(s.user_time for s in stages),
            system_time=sum(s.system_time for s in stages), peak_memory=max(s.peak_memory for s in stages),
            details=last.details, stages=stages)


def confine(policy: Policy):
    """Confines the current process (the calling thread and what it starts afterwards) to the
    policy's filesystem rules, with Landlock; irreversible. Only fs_readable, fs_writable,
    default_devices and allow_degraded may be set."""
    with native(policy) as handle:
        status, message = _native.call(_native.lib.sandlock_confine, handle.handle)
    check(status, message)
