#!/usr/bin/env bash
# Incremental runs: for a map-reduce over N files (default 1,000 and 10,000): the first run,
# a no-change re-run and a one-changed-input re-run through `sandlock-jobs run` (wall time,
# the runner's max RSS, and the summary's "cached, ran" counts), REPEAT times each (median;
# each one-change re-run changes another file). Then the digest throughput on one large
# input (a stage declaring it, first run with an empty digest table, minus the same stage
# without it). Then Snakemake's first run, no-change and one-change re-run of the same
# workflow at 1,000 files (SNAKEMAKE_N to change), when it installs from PyPI (venv in
# .build-bench/). SCRATCH picks the build directory. The jobs run under /tmp.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
SIZES=${SIZES:-"1000 10000"}
REPEAT=${REPEAT:-3}
BIG_MB=${BIG_MB:-256}
SNAKEMAKE_N=${SNAKEMAKE_N:-1000}

[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
build=(swift build -c release --static-swift-stdlib --product sandlock-jobs --scratch-path "${SCRATCH:-.build}")
"${build[@]}" >/dev/null
jobs_bin=$("${build[@]}" --show-bin-path)/sandlock-jobs

work=$(mktemp -d /tmp/sandlock-incremental-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# run DIR: prints "seconds maxrss_kib counts" of one `sandlock-jobs run`.
run() {
  local dir=$1
  /usr/bin/time -f "%e %M" -o "$dir/time" "$jobs_bin" run --progress plain -j 2 "$dir/job.yaml" 2>"$dir/err" >/dev/null
  local counts
  counts=$(grep -o '([0-9]* cached, [0-9]* ran)' "$dir/err" | tr -d '()' || true)
  echo "$(cat "$dir/time") ${counts:-0 cached, all ran}"
}

for n in $SIZES; do
  dir=$work/n$n
  mkdir -p "$dir/data"
  for i in $(seq -w 0 $((n - 1))); do echo "item $i" > "$dir/data/$i.txt"; done
  cat > "$dir/job.yaml" <<EOF
version: 1
name: incremental-$n
policies:
  sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc] }, environment: { clean: true } }
  reader: { extends: sys, filesystem: { read: [data] } }
  writer: { extends: sys, filesystem: { write: [out] } }
stages:
  count:
    map: { over: { glob: "data/*.txt" } }
    run: [/bin/sh, -c, 'exec wc -c < "\$SANDLOCK_ITEM"']
    policy: reader
    reduce: { run: "awk '{s+=\$1} END {print s}' > out/total.txt", policy: writer }
EOF
  echo "== $n shards"
  echo "first run:          $(run "$dir")"
  for r in $(seq 1 "$REPEAT"); do run "$dir"; done > "$dir/nochange"
  echo "no-change re-run:   $(awk '{print $1}' "$dir/nochange" | median) s (median of $REPEAT), max RSS $(awk '{print $2}' "$dir/nochange" | median) KiB, $(head -1 "$dir/nochange" | cut -d' ' -f3-)"
  for r in $(seq 1 "$REPEAT"); do
    last=$((n - 1))
    echo "changed $r" >> "$dir/data/$(printf "%0${#last}d" $((r * 7 % n))).txt"
    run "$dir"
  done > "$dir/onechange"
  echo "one-change re-run:  $(awk '{print $1}' "$dir/onechange" | median) s (median of $REPEAT), max RSS $(awk '{print $2}' "$dir/onechange" | median) KiB, $(head -1 "$dir/onechange" | cut -d' ' -f3-)"
done

# Digest throughput: the same one-command stage with and without a declared large input, a
# fresh store each time (so the input is read and hashed once).
dir=$work/digest
mkdir -p "$dir"
head -c "${BIG_MB}M" /dev/urandom > "$dir/big.bin"
for variant in with without; do
  inputs=$([ $variant = with ] && echo "    inputs: [big.bin]" || true)
  cat > "$dir/job.yaml" <<EOF
version: 1
name: digest
policies:
  sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc] } }
stages:
  one:
    run: [/bin/true]
    policy: sys
$inputs
EOF
  for r in $(seq 1 "$REPEAT"); do
    rm -rf "$dir/.sandlock-jobs"
    cat "$dir/big.bin" > /dev/null  # in the page cache for both variants
    run "$dir" | awk '{print $1}'
  done | median > "$dir/$variant"
done
awk -v mb="$BIG_MB" -v w="$(cat "$dir/with")" -v wo="$(cat "$dir/without")" \
  'BEGIN { d = w - wo; printf "digest: %d MB input: run %.2f s with it, %.2f s without: %s\n", mb, w, wo, (d > 0 ? sprintf("%.0f MB/s", mb / d) : "below the noise") }'

# Snakemake, the same workflow: one rule per file, one gathering rule.
venv=$PWD/.build-bench/venv-snakemake
if [ ! -x "$venv/bin/snakemake" ]; then
  python3 -m venv "$venv" >/dev/null 2>&1 && "$venv/bin/pip" install --quiet snakemake >/dev/null 2>&1 \
    || { echo "snakemake: not installable here; skipped"; exit 0; }
fi
dir=$work/snakemake
mkdir -p "$dir/data"
for i in $(seq -w 0 $((SNAKEMAKE_N - 1))); do echo "item $i" > "$dir/data/$i.txt"; done
cat > "$dir/Snakefile" <<'EOF'
ITEMS = glob_wildcards("data/{i}.txt").i
rule all:
    input: "out/total.txt"
rule count:
    input: "data/{i}.txt"
    output: "counts/{i}.txt"
    shell: "wc -c < {input} > {output}"
rule total:
    input: expand("counts/{i}.txt", i=ITEMS)
    output: "out/total.txt"
    shell: "cat {input} | awk '{{s+=$1}} END {{print s}}' > {output}"
EOF
snake() { (cd "$dir" && /usr/bin/time -f "%e %M" -o "$dir/time" "$venv/bin/snakemake" -j 2 --quiet >/dev/null 2>&1); cat "$dir/time"; }
echo "== snakemake $($venv/bin/snakemake --version), $SNAKEMAKE_N files"
echo "first run:          $(snake)"
echo "no-change re-run:   $(for r in $(seq 1 "$REPEAT"); do snake; done | awk '{print $1}' | median) s (median of $REPEAT)"
last=$((SNAKEMAKE_N - 1))
echo "one-change re-run:  $(for r in $(seq 1 "$REPEAT"); do echo "changed $r" >> "$dir/data/$(printf "%0${#last}d" $((r * 7 % SNAKEMAKE_N)))".txt; snake; done | awk '{print $1}' | median) s (median of $REPEAT)"
