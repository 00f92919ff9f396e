#!/usr/bin/env bash
# Start-up cost of a sandbox around /bin/true, all in one run: bare, `sandlock run` (ours),
# bubblewrap with equivalent read-only binds, and the sandlock PyPI package (reference
# implementation) in-process; plus our in-process Sandbox.run against in-process
# posix_spawn. Prints medians and ratios to bare. Installs hyperfine, bubblewrap and the
# sandlock package (in a venv under .build-bench/) when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
RUNS=${RUNS:-300}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v python3 >/dev/null || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi

swift build -c release --static-swift-stdlib --product sandlock >/dev/null
swift build -c release --static-swift-stdlib --product sandlock-bench >/dev/null
mkdir -p .build-bench
if [ ! -x .build-bench/venv/bin/python ]; then
  python3 -m venv .build-bench/venv
fi
.build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null \
  || .build-bench/venv/bin/pip install --quiet sandlock==0.9.0 \
  || echo "startup: sandlock PyPI package unavailable; skipping it" >&2

system=(/usr /lib /lib64 /bin /etc)
ours=(.build/release/sandlock run); for p in "${system[@]}"; do ours+=(-r "$p"); done; ours+=(-- /bin/true)
bwrap=(bwrap); for p in "${system[@]}"; do bwrap+=(--ro-bind "$p" "$p"); done; bwrap+=(--dev /dev -- /bin/true)

hyperfine -N --warmup 20 --runs "$RUNS" --export-json .build-bench/startup.json \
  -n bare /bin/true -n "sandlock run (ours)" "${ours[*]}" -n bwrap "${bwrap[*]}" >/dev/null

inprocess=$(.build/release/sandlock-bench "$RUNS")
pypi=""
if .build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null; then
  pypi=$(.build-bench/venv/bin/python - "$RUNS" <<'PY'
import statistics, subprocess, sys, time
from sandlock import Sandbox
runs = int(sys.argv[1])
box = Sandbox(fs_readable=["/usr", "/lib", "/lib64", "/bin", "/etc"])
for _ in range(20): box.run(["/bin/true"])
bare, boxed = [], []
for _ in range(runs):
    t = time.perf_counter(); subprocess.run(["/bin/true"]); bare.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter(); r = box.run(["/bin/true"]); boxed.append((time.perf_counter() - t) * 1000)
    assert r.success
q = lambda xs: (statistics.median(xs), sorted(xs)[len(xs) * 9 // 10])
print("pypi_bare_subprocess %.3f %.3f" % q(bare))
print("pypi_sandlock_run %.3f %.3f" % q(boxed))
PY
)
fi

python3 - "$inprocess" "$pypi" <<'PY'
import json, sys
rows = {r["command"]: r for r in json.load(open(".build-bench/startup.json"))["results"]}
bare = rows["bare"]["median"] * 1000
print(f"{'case':34} {'median ms':>10} {'over bare':>10} {'ratio':>7}")
for name, r in rows.items():
    m = r["median"] * 1000
    print(f"{name:34} {m:10.3f} {m - bare:10.3f} {m / bare:7.2f}")
pairs = {}
for line in (sys.argv[1] + "\n" + sys.argv[2]).splitlines():
    if line.strip():
        name, median, p90 = line.split()
        pairs[name] = float(median)
for base, case in [("inprocess_bare_posix_spawn", "inprocess_sandbox_run"), ("pypi_bare_subprocess", "pypi_sandlock_run")]:
    if base in pairs and case in pairs:
        b, c = pairs[base], pairs[case]
        print(f"{base:34} {b:10.3f}")
        print(f"{case:34} {c:10.3f} {c - b:10.3f} {c / b:7.2f}")
PY
