#!/usr/bin/env bash
# A fan-out of N shards (default 1,000; each `echo $SANDLOCK_SHARD`, then a reducer adding
# them up) on the single-node Slurm of Scripts/slurm-setup.sh and locally, interleaved:
# the local run's end-to-end time, the Slurm run's submission time (`run --detach`: the
# scripts written, every job submitted, the roots released) and end-to-end time (`run
# --executor slurm`, waiting), and Slurm's overhead per shard ((Slurm - local) / N).
# Prints each run and the medians. REPEAT (default 3) runs per case; SCRATCH picks the
# build directory; BIN=path/to/sandlock-jobs skips the release build. Needs root (Slurm).
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
N=${N:-1000}
REPEAT=${REPEAT:-3}

bash Scripts/slurm-setup.sh
if [ -z "${BIN:-}" ]; then
  build=(swift build -c release --static-swift-stdlib --product sandlock-jobs --scratch-path "${SCRATCH:-.build}")
  "${build[@]}" >/dev/null
  BIN=$("${build[@]}" --show-bin-path)/sandlock-jobs
fi

# The run directories must be where the node sees them: not a tmpfs.
work=$(mktemp -d /var/tmp/sandlock-slurm-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/fan.yaml" <<EOF
version: 1
name: slurm-bench
policies:
  sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc] } }
defaults: { policy: sys }
stages:
  fan:
    map: { over: { shards: $N } }
    run: echo "\$SANDLOCK_SHARD"
    reduce: { run: "awk '{s+=\$1} END {print s}'" }
EOF
expected=$((N * (N - 1) / 2))

now() { date +%s.%N; }
# Blocks until every job of the newest run has ended: a job depending on all of them,
# submitted with --wait (Slurm tells us; no polling here).
wait_jobs() {
  local ids
  ids=$(python3 -c 'import json,sys; print(":".join(j["job_id"] for j in json.load(open(sys.argv[1]))))' \
    "$work/.sandlock-jobs/runs/latest/slurm/jobs.json")
  sbatch --wait --quiet --dependency="afterany:$ids" --output=/dev/null --wrap true >/dev/null
}
check() {  # the reducer's sum
  local got
  got=$(cat "$work/.sandlock-jobs/runs/latest/stages/fan/stdout.log")
  [ "$got" = "$expected" ] || { echo "slurm-bench: wrong sum $got (expected $expected)" >&2; exit 1; }
}

local_times=() submit_times=() slurm_times=()
for run in $(seq "$REPEAT"); do
  t0=$(now); (cd "$work" && "$BIN" run --progress plain fan.yaml >/dev/null 2>&1); t1=$(now); check
  local_times+=("$(awk "BEGIN {print $t1 - $t0}")")
  t0=$(now); (cd "$work" && "$BIN" run --executor slurm --detach fan.yaml >/dev/null 2>&1); t1=$(now)
  submit_times+=("$(awk "BEGIN {print $t1 - $t0}")")
  wait_jobs
  (cd "$work" && "$BIN" status latest >/dev/null 2>&1) || true
  t0=$(now); (cd "$work" && "$BIN" run --executor slurm --progress plain fan.yaml >/dev/null 2>&1); t1=$(now); check
  slurm_times+=("$(awk "BEGIN {print $t1 - $t0}")")
  echo "run $run: local ${local_times[-1]}s, slurm submission ${submit_times[-1]}s, slurm end-to-end ${slurm_times[-1]}s (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
l=$(median "${local_times[@]}") s=$(median "${submit_times[@]}") e=$(median "${slurm_times[@]}")
echo "N=$N shards, $(nproc) CPUs, medians of $REPEAT:"
echo "  local end-to-end   ${l}s"
echo "  slurm submission   ${s}s (2 sbatch calls: the array and the reducer)"
echo "  slurm end-to-end   ${e}s"
echo "  slurm overhead     $(awk "BEGIN {printf \"%.1f\", ($e - $l) * 1000 / $N}") ms per shard"
