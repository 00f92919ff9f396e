#!/usr/bin/env bash
# The front end at scale: `validate`, `plan`, `plan --json` and `graph` of generated manifests
# (Scripts/bench/gen-manifest.py): the mixed shape at 10,000 and 100,000 stages (chains with
# needs, 100-way fan-in joins, policies with extends, map stages with items lists), a 50 MB
# manifest of the same shape with long scripts, a 100,000-stage chain, and a 100,000-way
# fan-in. Prints the median wall seconds of REPEAT runs (default 3) per command and the peak
# memory (max RSS) of `validate`. Every command should stay linear in the manifest's size:
# 10x the stages, about 10x the time. The tests check what the plan holds, never how fast.
#
#   Scripts/bench/manifest-scale.sh
#   JOBS_BIN=.build/release/sandlock-jobs CASES="mixed:10000 fat:50M" Scripts/bench/manifest-scale.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEAT=${REPEAT:-3}
# A command still running after TIMEOUT seconds is stopped and shown as ">TIMEOUT".
TIMEOUT=${TIMEOUT:-300}
CASES=${CASES:-"mixed:10000 mixed:100000 fat:50000000 chain:100000 fanin:100000"}

if [ -z "${JOBS_BIN:-}" ]; then
  source Scripts/setup.sh
  # SCRATCH: the build directory (default .build), for machines where several people build.
  build=(swift build -c release --product sandlock-jobs --scratch-path "${SCRATCH:-.build}")
  "${build[@]}" >/dev/null
  JOBS_BIN=$("${build[@]}" --show-bin-path)/sandlock-jobs
fi
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

work=$(mktemp -d /tmp/sandlock-manifest-scale-XXXXXX)
trap 'rm -rf "$work"' EXIT

# "wall/cpu": the median wall seconds and the median CPU seconds (user + sys) of REPEAT runs
# of ARGV (output discarded; exit status 0 or 65 both count: the point is the time to the
# answer), or ">TIMEOUT" (and no more runs) when one timed out. On a shared machine the CPU
# time is the steadier figure.
median_seconds() {
  local walls=() cpus=() rc
  for _ in $(seq "$REPEAT"); do
    rc=0
    /usr/bin/time -f '%e %U %S' -o "$work/time" timeout "$TIMEOUT" "$@" >/dev/null 2>&1 || rc=$?
    if [ "$rc" -eq 124 ]; then echo ">$TIMEOUT"; return; fi
    read -r wall user sys < <(tail -1 "$work/time")
    walls+=("$wall")
    cpus+=("$(echo "$user + $sys" | bc -l)")
  done
  local median='{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }'
  echo "$(printf '%s\n' "${walls[@]}" | sort -n | awk "$median")/$(printf '%s\n' "${cpus[@]}" | sort -n | awk "$median")"
}

echo "seconds: wall/cpu, median of $REPEAT; validate-RSS: peak memory of one validate"
printf '%-16s %6s %7s %12s %12s %12s %12s %12s\n' case MB stages validate plan "plan-json" graph "validate-RSS"
for case in $CASES; do
  kind=${case%%:*} n=${case#*:}
  file="$work/$kind-$n.yaml"
  python3 Scripts/bench/gen-manifest.py "$kind" "$n" > "$file"
  mb=$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.1f", b / 1e6 }')
  stages=$(awk '/^stages:/ { on = 1; next } on && /^  [^ ]/ { n++ } END { print n }' "$file")
  v=$(median_seconds "$JOBS_BIN" validate "$file")
  p=$(median_seconds "$JOBS_BIN" plan "$file")
  j=$(median_seconds "$JOBS_BIN" plan --json "$file")
  g=$(median_seconds "$JOBS_BIN" graph "$file")
  /usr/bin/time -f '%M' -o "$work/rss" timeout "$TIMEOUT" "$JOBS_BIN" validate "$file" >/dev/null 2>&1 || true
  rss=$(tail -1 "$work/rss")
  printf '%-16s %6s %7s %12s %12s %12s %12s %9s MB\n' "$kind:$n" "$mb" "${stages:-?}" "$v" "$p" "$j" "$g" $((rss / 1024))
  rm -f "$file"
done
