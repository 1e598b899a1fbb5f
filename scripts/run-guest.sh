#!/usr/bin/env bash
# run-guest.sh: owns the interactive demo guest: boots the test guest on a backend's socket until Ctrl-C.
#
# Usage: scripts/run-guest.sh --socket PATH [--kernel 6.1|6.12] [--mem MiB] [--next-after SECONDS]
#        scripts/run-guest.sh --inproc        (QEMU's own virtio-gpu-pci, no backend; QMP screendump only)
# The backend (e.g. vireo-gpu --socket-path PATH --http 127.0.0.1:PORT) must already listen on PATH.
# The guest draws the phase-1 picture, then waits for "next" on its serial console for phase 2.
# Env: as tests/e2e/lib.sh (E2E_QEMU_ARGS, E2E_GPU_PROPS, E2E_ACCEL, VIREO_CACHE).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/../tests/e2e/lib.sh"

mode=vhost-user
sock=""
next_after=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --socket) sock="${2:?}"; shift 2 ;;
        --inproc) mode=inproc; shift ;;
        --kernel) export E2E_KERNEL="${2:?}"; shift 2 ;;
        --mem) export E2E_MEM_MB="${2:?}"; shift 2 ;;
        --next-after) next_after="${2:?}"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ "$mode" == vhost-user ]]; then
    [[ -n "$sock" ]] || { echo "run-guest.sh: --socket PATH (a listening vhost-user GPU backend) or --inproc" >&2; exit 2; }
    [[ -S "$sock" ]] || { echo "run-guest.sh: nothing listens on ${sock}; start the backend first" >&2; exit 1; }
fi

export E2E_KEEP=1
e2e_init
# shellcheck disable=SC2034
E2E_BACKEND_SOCK="$sock"   # read by e2e_start_guest in lib.sh
e2e_start_guest "$mode"

cat <<INFO
Guest booting (${mode}). Where to look:
  serial console log : ${E2E_WORK}/serial.log   (tail -f it)
  phase 2 (damage)   : echo next > ${E2E_WORK}/serial.in
  QMP                : ${E2E_WORK}/qmp.sock   e.g. screendump via socat
  QEMU command line  : ${E2E_WORK}/qemu.cmd    QEMU log: ${E2E_WORK}/qemu.log
  the picture        : the backend's own display (VNC / HTTP API); QEMU runs with -display none
Ctrl-C stops QEMU (the backend is left running).
INFO

if e2e_wait_marker "VIREO-GUEST phase=1 ready"; then
    e2e_log "phase 1 drawn after $(e2e_elapsed "$E2E_BOOT_T0") s"
    if [[ -n "$next_after" ]]; then
        sleep "$next_after"
        e2e_send next
        e2e_wait_marker "VIREO-GUEST phase=2 ready" && e2e_log "phase 2 drawn"
    fi
else
    e2e_log "$E2E_REASON"
fi
# Follow the console until QEMU exits or Ctrl-C. tail runs in the background because bash runs a trap
# only between commands: "wait" returns at once on Ctrl-C, the EXIT trap then tears QEMU down and
# tail (--pid) follows it out.
tail -n +1 -f --pid="$E2E_QEMU_PID" "${E2E_WORK}/serial.log" &
E2E_EXTRA_PIDS+=($!)
wait $!
