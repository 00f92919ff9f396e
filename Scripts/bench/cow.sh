#!/usr/bin/env bash
# Copy-on-write workdir cost on two build-like workloads: "build" reads a 5,000-file source
# tree already in the workdir and writes 100 objects; "untar" creates the 5,000 files (~20 MB).
# Each bare, under `sandlock run` without a workdir, over a workspace aborted at the end, with
# its change set (dry run), and committed; the same with the sandlock PyPI package (seccomp COW)
# when it installs. Then the change-set time for 10,000 changed files (dry run minus abort on a
# 10,000-file untar).
# Prints medians and ratios to bare. SCRATCH=.build-xyz picks the build directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
RUNS=${RUNS:-10}
SCRATCH=${SCRATCH:-.build}

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
swift build -c release --static-swift-stdlib --product sandlock --scratch-path "$SCRATCH" >/dev/null
bench=$PWD/.build-bench
mkdir -p "$bench"
[ -x "$bench/venv/bin/python" ] || python3 -m venv "$bench/venv"
"$bench/venv/bin/python" -c 'import sandlock' 2>/dev/null \
  || "$bench/venv/bin/pip" install --quiet sandlock==0.9.0 \
  || echo "cow: sandlock PyPI package unavailable; skipping it" >&2

# Source trees: 250 directories of 20 files (and 500 of 20 for the change-set measurement).
python3 - "$bench" <<'PY'
import os, random, sys, tarfile
bench = sys.argv[1]
for name, dirs in (("src5k", 250), ("src10k", 500)):
    archive = f"{bench}/{name}.tar"
    if os.path.exists(archive):
        continue
    rng = random.Random(42)
    root = f"{bench}/{name}"
    for d in range(dirs):
        os.makedirs(f"{root}/mod{d:03}", exist_ok=True)
        for f in range(20):
            with open(f"{root}/mod{d:03}/file{f:02}.c", "w") as out:
                out.write("".join(f"int f{d}_{f}_{i}(void) {{ return {rng.randrange(1000)}; }}\n"
                                  for i in range(rng.randrange(4, 200))))
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=name)
PY

# The trees live on a tmpfs when we may mount one: on a disk filesystem, deleting and
# re-creating thousands of files between runs makes ext4's inode allocator (recently_deleted)
# dominate every case and the ratios meaningless. FS=disk keeps them under .build-bench.
area=$bench/cow-area
mkdir -p "$area"
if [ "${FS:-tmpfs}" = tmpfs ] && [ "$(id -u)" -eq 0 ] && ! mountpoint -q "$area"; then
  mount -t tmpfs -o size=3g,mode=0755 sandlock-cow-bench "$area"
  trap 'umount "$area"' EXIT
fi
work=$area/work
storage=$area/storage
ours="$SCRATCH/release/sandlock run -r /usr -r /lib -r /lib64 -r /bin -r /etc -r $bench -w $work"
cow="$ours --workdir $work --fs-storage $storage"
# build: the 5,000-file tree is in the workdir; read every source, write 100 objects and a log.
build="sh -c 'cd $work && cat src5k/*/*.c | wc -l > lines.log && mkdir -p out && for d in src5k/mod0*; do cat \$d/*.c > out/\${d#src5k/}.o; done'"
# untar: create the 5,000 files (metadata-heavy worst case).
untar() { echo "sh -c 'cd $work && tar -xf $bench/$1.tar && echo built > build.log'"; }
cases=(
  -n "build bare" "$build"
  -n "build sandbox, no workdir" "$ours -- $build"
  -n "build cow abort" "$cow --on-exit abort -- $build"
  -n "build cow dry-run (change set)" "$cow --dry-run -- $build"
  -n "build cow commit" "$cow -- $build"
)
untar_cases=(
  -n "untar bare" "$(untar src5k)"
  -n "untar sandbox, no workdir" "$ours -- $(untar src5k)"
  -n "untar cow abort" "$cow --on-exit abort -- $(untar src5k)"
  -n "untar cow dry-run (change set)" "$cow --dry-run -- $(untar src5k)"
  -n "untar cow commit" "$cow -- $(untar src5k)"
)
if "$bench/venv/bin/python" -c 'import sandlock' 2>/dev/null; then
  cat > "$bench/pypi_cow.py" <<PY
import sys
from sandlock import Sandbox, BranchAction
action = BranchAction.ABORT if sys.argv[1] == "abort" else BranchAction.COMMIT
box = Sandbox(fs_readable=["/usr", "/lib", "/lib64", "/bin", "/etc", "$bench"], fs_writable=["$work"],
              workdir="$work", fs_storage="$area/pypi-storage", on_exit=action)
result = box.run(sys.argv[2:])
# tar exits 2 under sandlock's seccomp COW: chmod of a directory created in the branch is refused
# ("Cannot change mode to rwxr-xr-x: Permission denied"); the files are extracted all the same.
assert result.exit_code in (0, 2), result.exit_code
PY
  pypi="$bench/venv/bin/python $bench/pypi_cow.py"
  cases+=(
    -n "build sandlock-pypi cow abort" "$pypi abort $build"
    -n "build sandlock-pypi cow commit" "$pypi commit $build"
  )
  untar_cases+=(
    -n "untar sandlock-pypi cow abort" "$pypi abort $(untar src5k)"
    -n "untar sandlock-pypi cow commit" "$pypi commit $(untar src5k)"
    -n "python-startup only (pypi harness)" "$bench/venv/bin/python -c pass"
  )
fi
rm -rf "$work" && mkdir -p "$work" && tar -xf "$bench/src5k.tar" -C "$work"
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$bench/cow-build.json" \
  --prepare "sh -c 'rm -rf $work/out $work/lines.log $storage $area/pypi-storage'" "${cases[@]}" >/dev/null
reset="sh -c 'rm -rf $work $storage $area/pypi-storage && mkdir -p $work'"
hyperfine -N --warmup 2 --runs "$RUNS" --prepare "$reset" --export-json "$bench/cow-untar.json" "${untar_cases[@]}" >/dev/null
hyperfine -N --warmup 1 --runs "$RUNS" --prepare "$reset" --export-json "$bench/cow10k.json" \
  -n "10k cow abort" "$cow --on-exit abort -- $(untar src10k)" \
  -n "10k cow dry-run" "$cow --dry-run -- $(untar src10k)" >/dev/null
rm -rf "$work" "$storage" "$area/pypi-storage"
python3 - "$bench" <<'PY'
import json, sys
bench = sys.argv[1]
for title, name in (("build (5,000-file tree in the workdir; 100 objects written)", "cow-build"),
                    ("untar (5,000 files, ~20 MB, created in the workdir)", "cow-untar")):
    rows = {r["command"]: r["median"] * 1000 for r in json.load(open(f"{bench}/{name}.json"))["results"]}
    bare = next(v for k, v in rows.items() if k.endswith(" bare"))
    print(f"{title}\n{'case':38} {'median ms':>10} {'ratio to bare':>14}")
    for case, median in rows.items():
        ratio = "" if case.startswith("python-startup") else f"{median / bare:14.2f}"
        print(f"{case:38} {median:10.1f} {ratio}")
    print()
ten = {r["command"]: r["median"] * 1000 for r in json.load(open(f"{bench}/cow10k.json"))["results"]}
delta = ten["10k cow dry-run"] - ten["10k cow abort"]
print(f"change set of 10,000 added files (dry run - abort): {delta:.1f} ms ({delta * 1000 / 10000:.1f} us/file)")
PY
