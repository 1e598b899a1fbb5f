#!/usr/bin/env bash
# run-all.sh: the real-guest end-to-end suite: the tiny guest on vireo-gpu (QEMU screendump through the side
# channel, Vireo's own PNG over HTTP and its VNC export seen by gvnccapture, all pixel-exact, two phases), then
# the same guest on QEMU's in-process virtio-gpu-pci as the reference. Needs a release build of vireo-gpu (make release).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
bin="${VIREO_GPU:-${repo}/.build/release/vireo-gpu}"
[[ -x "${repo}/.build/release/vireo" ]] || { echo "FAIL: e2e: ${repo}/.build/release/vireo not built"; exit 1; }
if [[ ! -x "$bin" ]]; then echo "FAIL: e2e: ${bin} not built (make release)"; exit 1; fi
port=$(( 20000 + RANDOM % 20000 ))
rc=0
"${here}/cli.sh" || rc=1
# The same run also exports the scanout over VNC: gvnccapture's picture must be the guest's picture too.
vncport=$(( 40000 + RANDOM % 20000 ))
EXTRA_CHECK_CMD="'${here}/check-vireo-png.sh' ${port} \"\$1\" \"\$2\" && '${here}/check-vireo-cli.sh' ${port} \"\$1\" \"\$2\" && '${here}/check-vireo-vnc.sh' ${vncport} \"\$1\" \"\$2\"" \
    "${here}/guest-screendump.sh" --backend "${bin} --socket-path {sock} --http 127.0.0.1:${port} --vnc 127.0.0.1:${vncport}" || rc=1
"${here}/guest-screendump.sh" --inproc || rc=1
# Behind QEMU's virtio-iommu (Linux 6.12 guest driver): every ring and framebuffer address is an IOVA that
# vireo-gpu translates through the vhost-user IOTLB, asking QEMU for each miss.
port2=$(( port + 1 ))
E2E_QEMU_ARGS="-device virtio-iommu-pci" E2E_GPU_PROPS=iommu_platform=on \
EXTRA_CHECK_CMD="'${here}/check-vireo-png.sh' ${port2} \"\$1\" \"\$2\" && '${here}/check-vireo-iommu.sh' ${port2} \"\$1\" \"\$2\"" \
    "${here}/guest-screendump.sh" --kernel 6.12 --backend "${bin} --socket-path {sock} --http 127.0.0.1:${port2}" || rc=1
# With vireo-gpu's virtio-input (QEMU vhost-user-input-pci): keys typed through the HTTP API's POST /v1/input/keys
# (phase 1) and by a VNC viewer (phase 2: a KeyEvent and QEMU's extended key event) come out of the guest's
# /dev/input/event*, echoed on the serial line. SKIP where this QEMU has no vhost-user-input-pci.
port3=$(( port + 2 ))
eval "$("${repo}/scripts/fetch-qemu10.sh" --env)"
if "$QEMU10_BIN" -device vhost-user-input-pci,help 2>/dev/null | grep -q '^vhost-user-input-pci options'; then
    E2E_QEMU_ARGS="-chardev socket,id=vin,path={work}/input.sock -device vhost-user-input-pci,chardev=vin" \
    EXTRA_CHECK_CMD="'${here}/check-vireo-input.sh' ${port3} \"\$1\" \"\$2\" $(( vncport + 10 ))" \
        "${here}/guest-screendump.sh" --label "vireo-gpu + vhost-user-input" \
        --backend "${bin} --socket-path {sock} --input-socket {work}/input.sock --http 127.0.0.1:${port3} --vnc 127.0.0.1:$(( vncport + 10 ))" || rc=1
else
    echo "SKIP: vireo-gpu + vhost-user-input: ${QEMU10_BIN} has no vhost-user-input-pci"
fi
exit $rc
