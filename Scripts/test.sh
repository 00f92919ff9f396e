#!/usr/bin/env bash
# Runs every test: installs the system libraries if missing, builds, runs the Swift test
# suites against the real kernel, then the schema check of the job manifests.
# SANDLOCK_REQUIRE_ALL=1 (CI) turns a test skipped for a missing kernel feature into a failure.
# SANDLOCK_WERROR=1 (set by CI=true too) builds the package's own targets, Swift and C, with
# warnings as errors (Package.swift); dependencies are not affected.
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh
if [ "${CI:-}" = "true" ]; then export SANDLOCK_WERROR=1; fi
# A single-node Slurm for the --executor slurm tests (they skip without one, and fail under
# SANDLOCK_REQUIRE_ALL=1); the daemons it started are stopped when the tests end.
if [ "$(id -u)" -eq 0 ]; then
  trap 'bash Scripts/slurm-setup.sh stop' EXIT
  bash Scripts/slurm-setup.sh || echo "test: no Slurm, the Slurm executor tests will skip" >&2
fi

swift build --build-tests
swift test --skip-build
# The README's release build of the executables (the test-support target must build without
# the Testing module). Per product: the C ABI's shared library cannot link a static stdlib.
for product in sandlock sandlock-jobs sandlock-http-proxy; do
  swift build -c release --static-swift-stdlib --product "$product"
done
if [ -f Scripts/check-schema.py ]; then
  python3 -c 'import jsonschema, yaml' 2>/dev/null || python3 -m pip install --quiet jsonschema pyyaml
  python3 Scripts/check-schema.py
fi

# The Python SDK (python/): installed with pip into a venv beside the build, from the
# debug library just built, then its pytest suite against the real kernel (setup.sh installed
# python3-venv).
[ -x .build/python-venv/bin/python ] || python3 -m venv .build/python-venv
.build/python-venv/bin/python -c 'import pytest' 2>/dev/null || .build/python-venv/bin/pip install --quiet pytest
SANDLOCK_SWIFT_CONFIGURATION=debug .build/python-venv/bin/pip install --quiet --force-reinstall --no-deps ./python
.build/python-venv/bin/python -m pytest -q -p no:cacheprovider python/tests
