#!/usr/bin/env bash
# check-vireo-iommu.sh: EXTRA_CHECK_CMD hook for the guest behind QEMU's virtio-iommu.
# 1. Vireo's per-client counters (GET /v1/clients/0) show that its DMA really went through the IOTLB (misses asked
#    of QEMU, every one answered) and that the well-behaved guest was refused nothing.
# 2. (phase 1) DMA checks through the same path (POST /v1/clients/0/dma-check): the guest's framebuffer backing is
#    readable (its IOVAs, as the guest's driver gave them); an IOVA the guest never mapped is refused by Vireo, and
#    QEMU's virtio-iommu reports the fault to the guest, whose kernel logs it ("page fault from EP 8 at
#    0x7fff00000000"; the guest prints its log on the host's "faults" command).
# Usage: check-vireo-iommu.sh PORT PHASE EXPECTED.ppm
set -euo pipefail
port="$1" phase="$2"
base="http://127.0.0.1:${port}/v1/clients/0"
check() { curl -fsS -H 'Content-Type: application/json' --data "$1" "${base}/dma-check"; }
if [[ "$phase" == "1" || "$phase" == "screen-1" ]]; then
    read_fb="$(check '{"access":"read","scanout":0}')"
    unmapped="$(check '{"access":"read","address":140733193388032,"length":4096}')"   # 0x7fff00000000
    serial="${E2E_WORK:?}/serial.log"
    printf 'faults\n' > "${E2E_WORK}/serial.in"
    for _ in $(seq 1 100); do grep -q 'VIREO-GUEST faults done' "$serial" && break; sleep 0.1; done
    guest_faults="$(grep '^VIREO-GUEST iommu-fault' "$serial" | tr -d '\r' || true)"
else
    read_fb='{}' unmapped='{}' guest_faults=''
fi
json="$(curl -fsS "${base}")"
echo "$json" >&2
python3 - "$json" "$phase" "$read_fb" "$unmapped" "$guest_faults" <<'PY'
import json, sys
c = json.loads(sys.argv[1]); n = c["counters"]; phase = sys.argv[2]
read_fb, unmapped = (json.loads(a) for a in sys.argv[3:5])
guest_faults = sys.argv[5]
problems = []
if n["iotlb_misses"] < 1: problems.append("no IOTLB miss was asked: the DMA was not translated")
if read_fb:
    print(f"dma-check read fb: {read_fb}", file=sys.stderr)
    print(f"dma-check unmapped: {unmapped}", file=sys.stderr)
    print(f"guest kernel: {guest_faults or '(no fault logged)'}", file=sys.stderr)
    if not read_fb.get("allowed"): problems.append("the framebuffer backing is not readable through the IOMMU")
    if unmapped.get("allowed") is not False: problems.append("an unmapped IOVA was not refused")
    if "0x7fff00000000" not in guest_faults: problems.append("the guest's kernel did not log the fault at 0x7fff00000000")
    if n["iotlb_misses_unanswered"] < 1: problems.append("the refused miss was not counted")
# The guest itself was refused nothing (the unanswered miss above is the check's).
if n["gpu_refusals"] or n["bad_chains"] or n["vhost_user_refusals"]:
    problems.append(f'guest commands refused: {n["gpu_refusals"]} bad_chains={n["bad_chains"]}')
if problems: sys.exit("check-vireo-iommu: " + "; ".join(problems))
print(f'iotlb: {n["iotlb_misses"]} misses, {n["gpu_commands"]} GPU commands, none refused', file=sys.stderr)
PY
