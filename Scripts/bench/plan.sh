#!/usr/bin/env bash
# Planning a large fan-out: `sandlock-jobs validate` and `plan --json` of a manifest whose map
# lists N items inline (default 10,000; the size PlannerTests checks for correctness), against
# reading the same file with `cat` as the floor. Prints the medians of REPEAT runs (default 5)
# and the ratio to the floor. The tests assert what the plan holds, never how fast it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
N=${N:-10000}
REPEAT=${REPEAT:-5}

# SCRATCH: the build directory (default .build), for machines where several people build.
build=(swift build -c release --static-swift-stdlib --product sandlock-jobs --scratch-path "${SCRATCH:-.build}")
"${build[@]}" >/dev/null
jobs_bin=$("${build[@]}" --show-bin-path)/sandlock-jobs

work=$(mktemp -d /tmp/sandlock-plan-XXXXXX)
trap 'rm -rf "$work"' EXIT
{
  echo "version: 1"
  echo "name: big"
  echo "policies:"
  echo "  base: { filesystem: { read: [/usr, /bin] } }"
  echo "defaults: { policy: base }"
  echo "stages:"
  printf '  fan: { map: { over: { items: ['
  seq -f 'item-%g' 0 $((N - 1)) | paste -sd, - | sed 's/,/, /g' | tr -d '\n'
  echo '] }, max_parallel: 8 }, run: echo "$SANDLOCK_ITEM", reduce: { run: wc -l } }'
  echo '  after: { run: "true", needs: [fan] }'
} > "$work/big.yaml"

# Median wall seconds of REPEAT runs of ARGV (output discarded).
median_seconds() {
  for _ in $(seq "$REPEAT"); do
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
  done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

floor=$(median_seconds cat "$work/big.yaml")
validate=$(median_seconds "$jobs_bin" validate "$work/big.yaml")
plan=$(median_seconds "$jobs_bin" plan --json "$work/big.yaml")
printf '%-22s %10s %10s\n' "$N items" seconds "x cat"
for row in "cat:$floor" "validate:$validate" "plan --json:$plan"; do
  awk -v n="${row%%:*}" -v s="${row#*:}" -v f="$floor" 'BEGIN { printf "%-22s %10.3f %10.1f\n", n, s, (f > 0 ? s / f : 0) }'
done
