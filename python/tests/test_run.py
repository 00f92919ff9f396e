"""Sandbox(policy).run: the reference README's first example, results, limits, and a denial
of each filesystem right with its positive control."""

import signal

from conftest import PYTHON
from sandlock import Policy, Sandbox


def test_readme_run_example(base):
    policy = Policy(**base, max_memory="256M", max_processes=10, clean_env=True)
    result = Sandbox(policy).run([PYTHON, "-c", "print('hello')"], timeout=30)
    assert result.success
    assert result.reason == "exited" and result.exit_code == 0 and result.signal is None
    assert b"hello" in result.stdout
    assert result.stderr == b""
    assert result.peak_memory > 0


def test_exit_code_signal_and_stdin(base):
    sandbox = Sandbox(Policy(**base))
    failed = sandbox.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (failed.success, failed.reason, failed.exit_code) == (False, "exited", 3)
    assert (failed.stdout, failed.stderr) == (b"out\n", b"err\n")

    killed = sandbox.run(["sh", "-c", "kill -TERM $$"])
    assert (killed.reason, killed.signal, killed.exit_code) == ("signaled", signal.SIGTERM, None)

    echoed = sandbox.run(["tr", "a-z", "A-Z"], input=b"from stdin")
    assert echoed.stdout == b"FROM STDIN"


def test_value_forms_reach_the_command(base):
    policy = Policy(**base, env={"GREETING": "hi"}, clean_env=True, cpu_cores=[0], max_open_files=64)
    result = Sandbox(policy).run(["sh", "-c", 'echo "$GREETING"; ulimit -n'])
    assert result.stdout == b"hi\n64\n"


def test_timeout_kills_the_sandbox(base):
    result = Sandbox(Policy(**base)).run(["sleep", "1000"], timeout=0.2)
    assert (result.success, result.reason) == (False, "timeout")


def test_memory_limit_kills_with_its_reason(base):
    allocate = "x = bytearray(256 << 20); print('allocated')"
    limited = Sandbox(Policy(**base, max_memory="64M")).run([PYTHON, "-c", allocate])
    assert limited.reason == "memory_limit"
    assert b"allocated" not in limited.stdout
    # Positive control: the same program under a limit it fits in.
    roomy = Sandbox(Policy(**base, max_memory="1G")).run([PYTHON, "-c", allocate])
    assert roomy.success and roomy.stdout == b"allocated\n"


def test_read_denied_outside_fs_readable(base, tmp_path):
    secret_dir = tmp_path.parent / (tmp_path.name + "-secret")
    secret_dir.mkdir()
    (secret_dir / "secret.txt").write_text("the secret")
    denied = Sandbox(Policy(**base)).run(["cat", str(secret_dir / "secret.txt")])
    assert not denied.success
    assert b"Permission denied" in denied.stderr
    allowed = Sandbox(Policy(fs_readable=base["fs_readable"] + [str(secret_dir)])).run(["cat", str(secret_dir / "secret.txt")])
    assert allowed.success and allowed.stdout == b"the secret"


def test_write_denied_outside_fs_writable(base, tmp_path):
    readable_only = tmp_path.parent / (tmp_path.name + "-ro")
    readable_only.mkdir()
    policy = Policy(fs_readable=base["fs_readable"] + [str(readable_only)], fs_writable=[str(tmp_path)])
    denied = Sandbox(policy).run(["sh", "-c", "echo x > %s/file" % readable_only])
    assert not denied.success and not (readable_only / "file").exists()
    allowed = Sandbox(policy).run(["sh", "-c", "echo x > %s/file" % tmp_path])
    assert allowed.success and (tmp_path / "file").read_text() == "x\n"


def test_spawn_and_kill(base):
    process = Sandbox(Policy(**base)).spawn(["sleep", "1000"])
    assert process.pid > 0
    process.kill()
    result = process.wait()
    assert (result.success, result.reason) == (False, "killed")
    assert process.wait() is result
