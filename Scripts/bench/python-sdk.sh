#!/usr/bin/env bash
# Start-up cost of a sandbox around /bin/true from Python: our SDK (python/, release
# libSandlockC.so) against the sandlock PyPI package 0.9 (the reference implementation) and a
# bare subprocess.run, each in its own venv under .build-bench/, in interleaved blocks of the
# same run. Prints medians and 90th percentiles in ms, and the load.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
RUNS=${RUNS:-200}
BLOCKS=${BLOCKS:-5}

command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null; }
mkdir -p .build-bench
swift build -c release --scratch-path .build-bench/sdk --product SandlockC >/dev/null
library="$(swift build -c release --scratch-path .build-bench/sdk --show-bin-path)/libSandlockC.so"
[ -x .build-bench/sdk-venv/bin/python ] || python3 -m venv .build-bench/sdk-venv
SANDLOCK_LIBRARY="$library" .build-bench/sdk-venv/bin/pip install --quiet --force-reinstall --no-deps ./python
[ -x .build-bench/venv/bin/python ] || python3 -m venv .build-bench/venv
.build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null \
  || .build-bench/venv/bin/pip install --quiet sandlock==0.9.0 \
  || echo "python-sdk: sandlock PyPI package unavailable; measuring ours only" >&2

# One block: RUNS runs of bare subprocess and of the sandbox, alternating; prints the times.
block='
import subprocess, sys, time
import sandlock
system = ["/usr", "/lib", "/lib64", "/bin", "/etc"]
if hasattr(sandlock, "ABI_VERSION"):
    box = sandlock.Sandbox(sandlock.Policy(fs_readable=system))
    run = lambda: box.run(["/bin/true"])
else:
    box = sandlock.Sandbox(fs_readable=system)
    run = lambda: box.run(["/bin/true"])
for _ in range(20): assert run().success
for _ in range(int(sys.argv[1])):
    t = time.perf_counter(); subprocess.run(["/bin/true"]); bare = time.perf_counter() - t
    t = time.perf_counter(); assert run().success; boxed = time.perf_counter() - t
    print("%.6f %.6f" % (bare * 1000, boxed * 1000))
'
: > .build-bench/python-sdk-ours.txt
: > .build-bench/python-sdk-pypi.txt
for _ in $(seq "$BLOCKS"); do
  .build-bench/sdk-venv/bin/python -c "$block" "$RUNS" >> .build-bench/python-sdk-ours.txt
  if .build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null; then
    .build-bench/venv/bin/python -c "$block" "$RUNS" >> .build-bench/python-sdk-pypi.txt
  fi
done

python3 - <<'PY'
import os, statistics
def load(name):
    path = ".build-bench/python-sdk-%s.txt" % name
    rows = [tuple(map(float, line.split())) for line in open(path)] if os.path.getsize(path) else []
    return [r[0] for r in rows], [r[1] for r in rows]
def q(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[len(xs) * 9 // 10]
print(f"{'case':40} {'median ms':>10} {'p90 ms':>8}")
for name, label in (("ours", "Sandbox.run /bin/true (ours, ctypes)"), ("pypi", "Sandbox.run /bin/true (sandlock 0.9)")):
    bare, boxed = load(name)
    if not boxed:
        continue
    print(f"{'subprocess.run (same interpreter)':40} {q(bare)[0]:10.3f} {q(bare)[1]:8.3f}")
    print(f"{label:40} {q(boxed)[0]:10.3f} {q(boxed)[1]:8.3f}")
print("load:", open("/proc/loadavg").read().split()[:3], "cpus:", os.cpu_count())
PY
