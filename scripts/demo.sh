#!/usr/bin/env bash
# demo.sh: the main job on its built-in default: vireo-gpu serves a tiny Linux guest under QEMU; the guest draws
# a test picture; Vireo's HTTP API serves it as PNG and a screenshot is saved to out/demo.png. On a terminal it
# runs until Ctrl-C; otherwise it stops after saving the screenshot (DEMO_HOLD=SECONDS keeps it up that long).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${repo}/.build/release/vireo-gpu"
port="${DEMO_PORT:-8080}"
out="${repo}/out"
mkdir -p "$out"
source "${repo}/tests/e2e/lib.sh"

echo "demo: booting the tiny guest on vireo-gpu (the first run downloads QEMU 10 and a Debian kernel)"
e2e_init
e2e_start_backend "${bin} --socket-path {sock} --http 127.0.0.1:${port}" || { echo "demo: vireo-gpu did not start" >&2; exit 1; }
e2e_start_guest vhost-user
if ! e2e_wait_marker "VIREO-GUEST phase=1 ready"; then
    echo "demo: the guest did not draw its picture: ${E2E_REASON}" >&2
    exit 1
fi
api="http://127.0.0.1:${port}/v1/displays"
sleep 0.5
curl -fsS -o "${out}/demo.png" "${api}/0/screenshot.png" || { echo "demo: no screenshot (logs in ${E2E_WORK})" >&2; exit 1; }
cat <<INFO
demo: the guest is on screen ($(curl -fsS "$api")).
  displays (JSON)    : ${api}
  live screenshot    : ${api}/0/screenshot.png
  saved screenshot   : ${out}/demo.png
  QEMU screendump    : QMP socket ${E2E_WORK}/qmp.sock
  serial console log : ${E2E_WORK}/serial.log
INFO
if [[ -t 0 ]]; then
    echo "demo: running; Ctrl-C stops the guest and vireo-gpu."
    wait "$E2E_QEMU_PID" || true
elif [[ -n "${DEMO_HOLD:-}" ]]; then
    sleep "$DEMO_HOLD"
fi
