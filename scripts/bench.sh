#!/usr/bin/env bash
# bench.sh: builds vireo-gpu and vireo-bench (release) and runs the benchmark against QEMU's vhost-user-gpu
# backends (7.2 from the system, 10.0 from scripts/fetch-qemu10.sh's cache when present); rewrites
# docs/performance.md. Extra arguments go to vireo-bench (--quick, --rounds N, --backends ..., --no-write).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
swift build -c release --product vireo-gpu
swift build -c release --product vireo-bench
exec .build/release/vireo-bench "$@"
