#!/usr/bin/env bash
# bench-iommu.sh: builds and runs Benchmarks/iommu-bench (release): the frame path with and without DMA translation,
# MAP+UNMAP rates, translation lookup cost; rewrites docs/performance-iommu.md. Extra arguments go to the bench
# (--quick, --no-write).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
swift build -c release --product iommu-bench
exec .build/release/iommu-bench "$@"
