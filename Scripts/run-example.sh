#!/usr/bin/env bash
# The main example: builds sandlock and runs a word count over jobs/data in a sandbox that
# can read only the system and the data, write nothing, reach no network, and is killed
# after 30 seconds; then shows the same sandbox refusing to read a file outside its grant.
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh
swift build -c release --product sandlock --static-swift-stdlib >/dev/null
sandlock=.build/release/sandlock
system=(-r /usr -r /lib -r /lib64 -r /bin -r /etc)

echo "== word count of jobs/data, sandboxed"
"$sandlock" run "${system[@]}" -r jobs/data --clean-env -t 30 -- \
  /bin/sh -c 'wc -w jobs/data/*.txt'

echo "== the same sandbox cannot read the README (expect 'Permission denied')"
if "$sandlock" run "${system[@]}" -r jobs/data -- /bin/cat README.md >/dev/null; then
  echo "unexpected: README.md was readable" >&2
  exit 1
fi
echo "== done"
