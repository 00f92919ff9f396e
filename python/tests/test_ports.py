"""Sandbox(policy, name=...).ports() while it runs (port_remap), and before and after."""

import os
import socket
import threading

from conftest import PYTHON, READABLE
from sandlock import Policy, Sandbox

SERVER = """
import socket, sys
port = int(sys.argv[1])
with socket.socket() as s:
    s.bind(("127.0.0.1", port))
    s.listen()
    with open(sys.argv[2], "w") as ready:
        ready.write(str(s.getsockname()[1]))
    open(sys.argv[3]).read()
"""


def test_ports_while_running(sandbox_kernel, tmp_path):
    # The host holds the port the sandbox asks for, so port_remap must give it another one.
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen()
    port = host.getsockname()[1]
    ready, release = tmp_path / "ready", tmp_path / "release"
    os.mkfifo(ready)
    os.mkfifo(release)
    policy = Policy(fs_readable=READABLE, fs_writable=[str(tmp_path)], port_remap=True, net_bind=[port])
    sandbox = Sandbox(policy, name="pytest-ports-%d" % os.getpid())
    assert sandbox.ports() == {}
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(result=sandbox.run([PYTHON, "-c", SERVER, str(port), str(ready), str(release)])))
    runner.start()
    try:
        with open(ready) as fifo:
            seen_inside = int(fifo.read())
        mapping = sandbox.ports()
    finally:
        with open(release, "w") as fifo:
            fifo.write("go")
        runner.join()
        host.close()
    assert seen_inside == port  # the sandbox sees the port it asked for
    assert list(mapping) == [port] and mapping[port] != port  # really bound elsewhere
    assert outcome["result"].success, outcome["result"].stderr
    assert sandbox.ports() == {}  # after the end: empty, no crash
