#!/usr/bin/env bash
# check-vireo-iommu.sh: EXTRA_CHECK_CMD hook for the guest behind QEMU's virtio-iommu: Vireo's per-client counters
# (GET /v1/clients/0) must show that its DMA really went through the IOTLB (misses asked of QEMU, every one
# answered) and that the well-behaved guest was refused nothing. Usage: check-vireo-iommu.sh PORT PHASE EXPECTED.ppm
set -euo pipefail
port="$1"
json="$(curl -fsS "http://127.0.0.1:${port}/v1/clients/0")"
echo "$json" >&2
python3 - "$json" <<'PY'
import json, sys
c = json.loads(sys.argv[1]); n = c["counters"]
problems = []
if n["iotlb_misses"] < 1: problems.append("no IOTLB miss was asked: the DMA was not translated")
if n["iotlb_misses_unanswered"] != 0: problems.append(f'{n["iotlb_misses_unanswered"]} misses unanswered')
if n["iotlb_access_failures"] != 0: problems.append(f'{n["iotlb_access_failures"]} accesses refused')
if c["refusals_total"] != 0: problems.append(f'refusals_total {c["refusals_total"]}')
if problems: sys.exit("check-vireo-iommu: " + "; ".join(problems))
print(f'iotlb: {n["iotlb_misses"]} misses answered, 0 refused, {n["gpu_commands"]} GPU commands', file=sys.stderr)
PY
