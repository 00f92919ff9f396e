"""confine(policy) in a child interpreter: Landlock on the current process, irreversible."""

import subprocess
import sys
import textwrap

from conftest import READABLE

PROGRAM = textwrap.dedent("""
    import sys
    from sandlock import Policy, confine
    readable, writable, secret = sys.argv[1].split(":"), sys.argv[2], sys.argv[3]
    print(open(secret).read().strip())           # before: readable
    confine(Policy(fs_readable=readable, fs_writable=[writable]))
    with open(writable + "/written", "w") as f:  # positive control: the writable tree
        f.write("ok")
    try:
        open(secret).read()
        print("secret read")
    except PermissionError:
        print("secret denied")
""")


def test_confine_current_process(sandbox_kernel, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("visible before confine")
    writable = tmp_path / "out"
    writable.mkdir()
    child = subprocess.run([sys.executable, "-c", PROGRAM, ":".join(READABLE), str(writable), str(secret)],
                           capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["visible before confine", "secret denied"]
    assert (writable / "written").read_text() == "ok"


def test_confine_refuses_fields_it_cannot_apply(sandbox_kernel):
    program = "from sandlock import Policy, confine, UnsupportedError\ntry:\n    confine(Policy(max_memory='1G'))\nexcept UnsupportedError as e:\n    print(e)"
    child = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    assert "confine() applies filesystem rules to the current process only" in child.stdout
