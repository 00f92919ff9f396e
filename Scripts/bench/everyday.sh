#!/usr/bin/env bash
# Costs of issue 19's runner features, in one run, medians of REPEAT interleaved runs:
# - secrets: a stage writing 64 MiB to stdout, bare, through `sandlock-jobs run`, and with
#   `secrets:` (its run directory masked when it ends);
# - per-shard grants: N shards (default 200) each reading a file, over `glob:` (each shard
#   granted its own item) against `items:` listing the same paths with the whole directory
#   granted to the stage.
# SANDLOCK_JOBS=path uses that binary instead of a release build; SCRATCH picks the build
# directory. Prints seconds and ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
N=${N:-200}
REPEAT=${REPEAT:-5}
if [ -z "${SANDLOCK_JOBS:-}" ]; then
  build=(swift build -c release --static-swift-stdlib --product sandlock-jobs --scratch-path "${SCRATCH:-.build}")
  "${build[@]}" >/dev/null
  SANDLOCK_JOBS=$("${build[@]}" --show-bin-path)/sandlock-jobs
fi
work=$(mktemp -d /tmp/sandlock-bench-everyday-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
for i in $(seq 1 "$N"); do echo "item $i" > "$work/data/$i.txt"; done
items=$(cd "$work" && printf '"%s", ' "$work"/data/*.txt)
sys='policies:
  sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc] } }
defaults: { policy: sys }'
big='yes 0123456789abcdef | head -c 67108864'
cat > "$work/plain.yaml" <<YAML
version: 1
name: plain
$sys
stages:
  out: { run: "$big" }
YAML
cat > "$work/secret.yaml" <<YAML
version: 1
name: secret
$sys
stages:
  out: { run: "$big", secrets: [BENCH_TOKEN] }
YAML
cat > "$work/glob.yaml" <<YAML
version: 1
name: glob
$sys
stages:
  fan: { map: { over: { glob: "data/*.txt" } }, run: cat "\$SANDLOCK_ITEM" }
YAML
cat > "$work/items.yaml" <<YAML
version: 1
name: items
$sys
stages:
  fan:
    map: { over: { items: [${items%, }] } }
    policy: { extends: sys, filesystem: { read: [data] } }
    run: cat "\$SANDLOCK_ITEM"
YAML

declare -A times
run() {  # name command…
  local start end
  start=$(date +%s.%N)
  "${@:2}" >/dev/null 2>&1 || { echo "everyday: $1 failed" >&2; exit 1; }
  end=$(date +%s.%N)
  times[$1]+="$(echo "$end - $start" | bc) "
}
export BENCH_TOKEN=0123456789abcdef-token
for _ in $(seq 1 "$REPEAT"); do
  run bare sh -c "$big > $work/bare.out"
  run runner "$SANDLOCK_JOBS" run --progress plain --run-dir "$work/r-plain" "$work/plain.yaml"; rm -rf "$work/r-plain"
  run secrets "$SANDLOCK_JOBS" run --progress plain --run-dir "$work/r-secret" "$work/secret.yaml"; rm -rf "$work/r-secret"
  run items "$SANDLOCK_JOBS" run -j 2 --progress plain --run-dir "$work/r-items" "$work/items.yaml"; rm -rf "$work/r-items"
  run glob "$SANDLOCK_JOBS" run -j 2 --progress plain --run-dir "$work/r-glob" "$work/glob.yaml"; rm -rf "$work/r-glob"
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs; $REPEAT interleaved runs, medians"
for k in bare runner secrets; do printf '64 MiB stdout  %-8s %6.2fs\n' "$k" "$(median "${times[$k]}")"; done
printf '  masking adds  %.2fs (secrets - runner)\n' "$(echo "$(median "${times[secrets]}") - $(median "${times[runner]}")" | bc)"
for k in items glob; do printf '%s shards      %-8s %6.2fs  %6.0f shards/s\n' "$N" "$k" "$(median "${times[$k]}")" "$(echo "$N / $(median "${times[$k]}")" | bc -l)"; done
