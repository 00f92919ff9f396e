#!/usr/bin/env bash
# What `-P` costs, by mechanism, all in one run and interleaved (one round runs every case
# once, REPEAT rounds, medians): a sandbox start (/bin/true), a loop of 500 fork+exec+exit
# (`sh -c 'for …; do /bin/true; done'`), 200 threads, and a fan-out of N shards through
# `sandlock-jobs`; each without -P, with -P in a pids cgroup (root), with -P under the
# supervisor's trap (forced by a write grant on /sys/fs/cgroup, which rules the cgroup out)
# and, as nobody, with -P as RLIMIT_NPROC in a user namespace. Prints the load too.
# CONFIG=release (default debug) builds with the static stdlib like the other benches.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEAT=${REPEAT:-7}
N=${N:-200}
CONFIG=${CONFIG:-debug}

flags=(); [ "$CONFIG" = release ] && flags=(-c release --static-swift-stdlib)
swift build "${flags[@]}" --product sandlock >/dev/null
swift build "${flags[@]}" --product sandlock-jobs >/dev/null
swift build "${flags[@]}" --product sandlock-test-probe >/dev/null 2>&1 || true
bin=$(swift build "${flags[@]}" --show-bin-path)
probe=$bin/sandlock-test-probe

work=$(mktemp -d /tmp/sandlock-plimit-XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
# The probe links the Swift runtime of the toolchain (a debug build has no static stdlib).
runtime=$(ldd "$probe" | awk '/libswiftCore/ {print $3}' | xargs -r dirname)
read_flags=(); for p in /usr /lib /lib64 /bin /etc "$bin" $runtime; do read_flags+=(-r "$p"); done
for limit in none cgroup; do
  extra=""; [ "$limit" = cgroup ] && extra=", limits: { processes: 64 }"
  cat > "$work/fan-$limit.yaml" <<EOF
version: 1
name: fan-$limit
policies:
  sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc] }$extra }
defaults: { policy: sys }
stages:
  fan:
    map: { over: { shards: $N } }
    run: [/bin/true]
EOF
done

run="$bin/sandlock run"
as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups -- $run"
# -P by mechanism: none, the pids cgroup, the trap (a write grant rules the cgroup out), and
# RLIMIT_NPROC in a user namespace (as nobody).
declare -A limit=([none]="" [cgroup]="-P 1000" [trap]="-P 1000 -w /sys/fs/cgroup" [userns]="-P 1000")
declare -A cases=(
  [fanout-none]="$bin/sandlock-jobs run $work/fan-none.yaml"
  [fanout-cgroup]="$bin/sandlock-jobs run $work/fan-cgroup.yaml"
)
for mechanism in none cgroup trap userns; do
  runner=$run; [ "$mechanism" = userns ] && runner=$as_nobody
  prefix="$runner ${limit[$mechanism]} ${read_flags[*]} --"
  cases[start-$mechanism]="$prefix /bin/true"
  cases[forks-$mechanism]="$prefix /bin/sh -c 'for i in \$(seq 500); do /bin/true; done'"
  cases[threads-$mechanism]="$prefix $probe thread-bomb 200"
done
order=(start-none start-cgroup start-trap start-userns forks-none forks-cgroup forks-trap forks-userns
       threads-none threads-cgroup threads-trap threads-userns fanout-none fanout-cgroup)
declare -A times
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $CONFIG build; REPEAT=$REPEAT N=$N"
for round in $(seq "$REPEAT"); do
  for name in "${order[@]}"; do
    start=$(date +%s%N)
    (cd "$work" && eval "${cases[$name]}") >/dev/null 2>&1 || echo "  $name failed in round $round" >&2
    times[$name]+="$(( ($(date +%s%N) - start) / 1000000 )) "
  done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for name in "${order[@]}"; do printf '%-16s median %6s ms   (all: %s)\n' "$name" "$(median "${times[$name]}")" "${times[$name]}"; done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
