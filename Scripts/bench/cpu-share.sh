#!/usr/bin/env bash
# CPU share (`max_cpu`, `sandlock run -c PCT`): wall time and CPU time of the same busy loop,
# bare and under several shares, in one run. The duty cycle stops the tree for (100 - PCT)%
# of every 100 ms period, so wall/CPU should come out near 100/PCT. Prints the medians of
# REPEAT runs (default 3) and the ratios; the tests only prove the duty cycle is engaged
# (Tests/SandlockCoreTests/KernelLimitTests.swift), this measures what it costs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
REPEAT=${REPEAT:-3}
LOOP=${LOOP:-300000}
SHARES=${SHARES:-"50 20 10"}

# SCRATCH: the build directory (default .build), for machines where several people build.
build=(swift build -c release --static-swift-stdlib --product sandlock --scratch-path "${SCRATCH:-.build}")
"${build[@]}" >/dev/null
sandlock=$("${build[@]}" --show-bin-path)/sandlock
read_flags=(); for p in /usr /lib /lib64 /bin /etc; do [ -e "$p" ] && read_flags+=(-r "$p"); done
busy=(/bin/sh -c "i=0; while [ \$i -lt $LOOP ]; do i=\$((i+1)); done")

# One run: prints "wall_seconds cpu_seconds" (user + system of the tree, from wait4).
measure() {
  python3 - "$@" <<'PY'
import os, resource, subprocess, sys, time
start = time.monotonic()
before = resource.getrusage(resource.RUSAGE_CHILDREN)
subprocess.run(sys.argv[1:], check=True)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(f"{time.monotonic() - start:.3f} {cpu:.3f}")
PY
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# case NAME ARGV…: REPEAT runs, medians of wall and CPU time.
declare -A wall cpu
run_case() {
  local name=$1; shift
  local samples=()
  for _ in $(seq "$REPEAT"); do samples+=("$(measure "$@")"); done
  wall[$name]=$(printf '%s\n' "${samples[@]}" | cut -d' ' -f1 | median)
  cpu[$name]=$(printf '%s\n' "${samples[@]}" | cut -d' ' -f2 | median)
}

run_case bare "${busy[@]}"
run_case "sandlock" "$sandlock" run "${read_flags[@]}" -- "${busy[@]}"
for share in $SHARES; do run_case "sandlock -c $share" "$sandlock" run -c "$share" "${read_flags[@]}" -- "${busy[@]}"; done

printf '%-16s %8s %8s %10s %12s\n' case wall_s cpu_s wall/cpu wall/bare
for name in bare sandlock $(for s in $SHARES; do echo "sandlock_-c_$s"; done); do
  key=${name//_/ }
  awk -v n="$key" -v w="${wall[$key]}" -v c="${cpu[$key]}" -v b="${wall[bare]}" \
    'BEGIN { printf "%-16s %8.3f %8.3f %10.2f %12.2f\n", n, w, c, (c > 0 ? w / c : 0), w / b }'
done
