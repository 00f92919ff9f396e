#!/usr/bin/env bash
# The main example: builds sandlock-jobs and runs jobs/wordcount.yaml, a map-reduce job:
# `prepare` lists the inputs, `count` counts the words of each file in its own sandbox
# (one shard per file, the counts streamed in file order to a reducer that adds them up),
# and `report` is a pipeline of two sandboxes joined by a kernel pipe, each with its own
# policy. Every process can read only the system and what its policy grants, reach no
# network, and runs under memory, process and time limits. `prepare` writes out/ through a
# copy-on-write workspace, committed when it succeeds. First a dry run shows what each stage
# would change (and changes nothing); then the run prints the live progress and the summary,
# then the results from the run directory.
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh
# SCRATCH: the build directory (default .build).
build=(swift build -c release --product sandlock-jobs --static-swift-stdlib --scratch-path "${SCRATCH:-.build}")
"${build[@]}" >/dev/null
jobs=$("${build[@]}" --show-bin-path)/sandlock-jobs

echo "== sandlock-jobs run --dry-run jobs/wordcount.yaml (a preview: nothing is committed)"
"$jobs" run --dry-run --progress plain jobs/wordcount.yaml 2>&1 | sed -n '/^dry run:/,/^run directory/p'

echo
echo "== sandlock-jobs run jobs/wordcount.yaml"
"$jobs" run jobs/wordcount.yaml

echo
echo "== words in jobs/data (the reducer's output)"
"$jobs" logs latest count --in jobs/wordcount.yaml
echo "== the report pipeline's output"
"$jobs" logs latest report --in jobs/wordcount.yaml
echo "== runs of this manifest"
"$jobs" runs --in jobs/wordcount.yaml --limit 3
