#!/usr/bin/env bash
# Cost of confinement on syscall-heavy work, all in one run: `find /usr -type f | wc -l` and
# an import-heavy Python script, each bare, under `sandlock run` with filesystem rules only,
# with memory and process limits (supervised), and with the sandlock PyPI package (same
# policies) when it installs. Prints medians and ratios to bare.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
RUNS=${RUNS:-10}

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
swift build -c release --static-swift-stdlib --product sandlock >/dev/null
mkdir -p .build-bench
[ -x .build-bench/venv/bin/python ] || python3 -m venv .build-bench/venv
.build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null \
  || .build-bench/venv/bin/pip install --quiet sandlock==0.9.0 \
  || echo "supervisor: sandlock PyPI package unavailable; skipping it" >&2

python=/usr/bin/python3
cat > .build-bench/imports.py <<'PY'
import json, email.parser, http.client, xml.etree.ElementTree, decimal, fractions, statistics, argparse, csv, sqlite3, unittest, asyncio, logging.handlers, urllib.request
PY
find_cmd="find /usr -type f | wc -l"
py_cmd="$python $PWD/.build-bench/imports.py"
grants="-r /usr -r /lib -r /lib64 -r /bin -r /etc -r $PWD/.build-bench"
ours=".build/release/sandlock run $grants"
cases=(
  -n "find bare" "sh -c '$find_cmd'"
  -n "find fs-only" "$ours -e '$find_cmd'"
  -n "find limits" "$ours -m 512M -P 64 -e '$find_cmd'"
  -n "python bare" "$py_cmd"
  -n "python fs-only" "$ours -- $py_cmd"
  -n "python limits" "$ours -m 512M -P 64 -- $py_cmd"
)
if .build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null; then
  cat > .build-bench/pypi_run.py <<PY
import sys
from sandlock import Sandbox
limits = sys.argv[1] == "limits"
extra = dict(max_memory="512M", max_processes=64) if limits else {}
box = Sandbox(fs_readable=["/usr", "/lib", "/lib64", "/bin", "/etc", "$PWD/.build-bench"], **extra)
result = box.run(sys.argv[2:])
assert result.success, result
PY
  pypi=".build-bench/venv/bin/python .build-bench/pypi_run.py"
  cases+=(
    -n "find sandlock-pypi fs-only" "$pypi fs /bin/sh -c '$find_cmd'"
    -n "find sandlock-pypi limits" "$pypi limits /bin/sh -c '$find_cmd'"
    -n "python sandlock-pypi fs-only" "$pypi fs $py_cmd"
    -n "python sandlock-pypi limits" "$pypi limits $py_cmd"
    -n "python-startup only (pypi harness)" ".build-bench/venv/bin/python -c pass"
  )
fi
hyperfine -N --warmup 2 --runs "$RUNS" --export-json .build-bench/supervisor.json "${cases[@]}" >/dev/null
python3 - <<'PY'
import json
rows = {r["command"]: r["median"] * 1000 for r in json.load(open(".build-bench/supervisor.json"))["results"]}
print(f"{'case':38} {'median ms':>10} {'ratio to bare':>14}")
for name, median in rows.items():
    workload = name.split()[0]
    bare = rows.get(f"{workload} bare")
    ratio = f"{median / bare:14.2f}" if bare and not name.startswith("python-startup") else ""
    print(f"{name:38} {median:10.1f} {ratio}")
PY
