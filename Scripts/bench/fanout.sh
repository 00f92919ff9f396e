#!/usr/bin/env bash
# Fan-out throughput, all in one run: N shards (default 1,000) of /bin/true, and of a tiny
# `cat` of the shard's item, through `sandlock-jobs run` (one sandbox per shard), against
# the bare commands under `xargs -P2` and GNU parallel, `xargs -P2` of bubblewrap with
# equivalent read-only binds, and an N-run loop of the sandlock PyPI package. Then the
# runner's peak memory (max RSS) at 1,000 and 10,000 shards. Then shards that each write a
# file into the workdir: bare, and through the runner, where every shard writes its own
# copy-on-write upper that is merged into the stage's and committed (or, with --dry-run,
# only previewed). Prints shards/s and ratios.
# Installs GNU parallel, bubblewrap and the sandlock package (venv in .build-bench/) when
# missing. REPEAT (default 3) runs per case; the median counts. The jobs run in a temp
# folder under /tmp.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
N=${N:-1000}
REPEAT=${REPEAT:-3}

need=()
command -v parallel >/dev/null || need+=(parallel)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v python3 >/dev/null || need+=(python3 python3-venv)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi

# SCRATCH: the build directory (default .build), for machines where several people build.
build=(swift build -c release --static-swift-stdlib --product sandlock-jobs --scratch-path "${SCRATCH:-.build}")
"${build[@]}" >/dev/null
jobs_bin=$("${build[@]}" --show-bin-path)/sandlock-jobs
mkdir -p .build-bench
if [ ! -x .build-bench/venv/bin/python ]; then python3 -m venv .build-bench/venv; fi
.build-bench/venv/bin/python -c 'import sandlock' 2>/dev/null \
  || .build-bench/venv/bin/pip install --quiet sandlock==0.9.0 \
  || echo "fanout: sandlock PyPI package unavailable; skipping it" >&2

work=$(mktemp -d /tmp/sandlock-fanout-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/items"
for i in $(seq -w 0 $((N - 1))); do echo "item $i" > "$work/items/$i.txt"; done
system='[/usr, /lib, /lib64, /bin, /etc]'
manifest() {  # name, shards source, worker argv (YAML)
  cat > "$work/$1.yaml" <<EOF
version: 1
name: $1
policies:
  sys: { filesystem: { read: $system } }
  items: { extends: sys, filesystem: { read: [items] } }
defaults: { policy: sys }
stages:
  fan:
    map: { over: $2 }
    run: $3
EOF
}
manifest true "{ shards: $N }" "[/bin/true]"
manifest cat "{ glob: \"items/*.txt\" }" "[/bin/sh, -c, 'exec cat \"\$SANDLOCK_ITEM\"']"
sed -i 's/^    run: \[\/bin\/sh/    policy: items\n    run: [\/bin\/sh/' "$work/cat.yaml"
manifest true10k "{ shards: 10000 }" "[/bin/true]"
manifest write "{ shards: $N }" "[/bin/sh, -c, 'echo \$SANDLOCK_ITEM > out/\$SANDLOCK_ITEM.txt']"
sed -i 's/^  items: /  out: { extends: sys, filesystem: { write: [out] } }\n  items: /; s/^    run: \[\/bin\/sh, -c, .echo/    policy: out\n&/' "$work/write.yaml"

python3 - "$jobs_bin" "$work" "$N" "$REPEAT" <<'PY'
import os, statistics, subprocess, sys, time
jobs, work, n, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
items = sorted(os.path.join(work, "items", f) for f in os.listdir(os.path.join(work, "items")))
binds = []
for p in ["/usr", "/lib", "/lib64", "/bin", "/etc"]:
    binds += ["--ro-bind", p, p]
bwrap = ["bwrap"] + binds + ["--dev", "/dev", "--ro-bind", os.path.join(work, "items"), os.path.join(work, "items")]
cat = ["/bin/sh", "-c", 'exec cat "$1"', "_"]

def timed(argv, stdin=None, env=None, fresh_out=False):
    samples = []
    for _ in range(repeat):
        if fresh_out:
            subprocess.run(["rm", "-rf", os.path.join(work, "out")], check=True)
            os.mkdir(os.path.join(work, "out"))
        t = time.perf_counter()
        r = subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=work, env=env)
        samples.append(time.perf_counter() - t)
        if r.returncode != 0:
            sys.exit(f"fanout: {' '.join(argv[:6])} … failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    return statistics.median(samples)

nums = "".join(f"{i}\n" for i in range(n)).encode()
paths = "".join(p + "\n" for p in items).encode()
rows = []
def case(name, seconds):
    rows.append((name, seconds))

case("true: xargs -P2 (bare)", timed(["xargs", "-P2", "-n1", "/bin/true"], nums))
case("true: GNU parallel -j2 (bare)", timed(["parallel", "-j2", "/bin/true"], nums))
case("true: xargs -P2 bwrap", timed(["xargs", "-P2", "-n1"] + bwrap + ["--", "/bin/true"], nums))
case("true: sandlock-jobs run", timed([jobs, "run", "--progress", "plain", "true.yaml"]))
case("cat item: xargs -P2 (bare)", timed(["xargs", "-P2", "-n1"] + cat, paths))
case("cat item: GNU parallel -j2 (bare)", timed(["parallel", "-j2"] + cat, paths))
case("cat item: xargs -P2 bwrap", timed(["xargs", "-P2", "-n1"] + bwrap + ["--"] + cat, paths))
case("cat item: sandlock-jobs run", timed([jobs, "run", "--progress", "plain", "cat.yaml"]))
write = ["/bin/sh", "-c", 'echo $1 > out/$1.txt', "_"]
case("write file: xargs -P2 (bare)", timed(["xargs", "-P2", "-n1"] + write, nums, fresh_out=True))
case("write file: sandlock-jobs run (COW, commit)", timed([jobs, "run", "--progress", "plain", "write.yaml"], fresh_out=True))
case("write file: sandlock-jobs run --dry-run", timed([jobs, "run", "--dry-run", "--progress", "plain", "write.yaml"], fresh_out=True))
venv = os.path.join(os.getcwd(), ".build-bench/venv/bin/python")
pypi = """
import sys, time
from sandlock import Sandbox
n = int(sys.argv[1])
box = Sandbox(fs_readable=["/usr", "/lib", "/lib64", "/bin", "/etc"])
for _ in range(n):
    assert box.run(["/bin/true"]).success
"""
if subprocess.run([venv, "-c", "import sandlock"], capture_output=True).returncode == 0:
    case("true: sandlock PyPI loop", timed([venv, "-c", pypi, str(n)]))

bare = rows[0][1]
print(f"{n} shards, median of {repeat}, on {os.cpu_count()} CPUs")
print(f"{'case':36} {'seconds':>8} {'shards/s':>9} {'vs bare xargs':>14}")
for name, s in rows:
    print(f"{name:36} {s:8.3f} {n / s:9.0f} {s / bare:13.2f}x")

def peak(manifest):
    r = subprocess.run(["/usr/bin/time", "-f", "%M", jobs, "run", "--progress", "plain", manifest],
                       cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return int(r.stderr.decode().strip().splitlines()[-1])
small, large = peak("true.yaml"), peak("true10k.yaml")
print(f"runner max RSS: {small / 1024:.1f} MiB at {n} shards, {large / 1024:.1f} MiB at 10000 shards")
PY
