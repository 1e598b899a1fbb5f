#!/usr/bin/env bash
# guest-screendump.sh: owns the two-phase real-guest screen test: boot, draw, screendump, compare pixel-exactly.
#
# Usage:
#   tests/e2e/guest-screendump.sh --backend 'CMD'    any vhost-user GPU backend; {sock} = socket to listen on,
#                                                    {work} = the run's work folder. BACKEND='CMD' works too.
#   tests/e2e/guest-screendump.sh --peer             QEMU 7.2's /usr/lib/qemu/vhost-user-gpu (Debian package)
#   tests/e2e/guest-screendump.sh --peer10           QEMU 10's vhost-user-gpu (from scripts/fetch-qemu10.sh)
#   tests/e2e/guest-screendump.sh --inproc           reference: QEMU's in-process virtio-gpu-pci, no backend
# Options: --kernel 6.1|6.12 (E2E_KERNEL), --mem MiB (E2E_MEM_MB), --label NAME (names the checks);
#   the rest of the environment is in lib.sh.
# Hook: EXTRA_CHECK_CMD runs after each phase's screendump check, counted as a check of its own:
#   - an executable file: run as  FILE PHASE EXPECTED.ppm
#   - otherwise a bash snippet, run with $1=PHASE $2=EXPECTED.ppm, e.g.
#     EXTRA_CHECK_CMD='curl -sf http://127.0.0.1:8080/v1/screenshot -o "$E2E_WORK/own-$1.png" &&
#                      tests/e2e/compare-images.sh "$E2E_WORK/own-$1.png" "$2"'
#   Exported to it: E2E_PHASE, E2E_EXPECTED, E2E_WORK (the run's folder), E2E_BACKEND_SOCK, E2E_QMP_SOCK.
#   Non-zero exit = that phase's extra check fails.
# Phases: 1 = the whole frame in one write; 2 = three damage rectangles after the host sends "next".
# Exit 0 when every check passed; the last line is "e2e: N passed, N failed".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/lib.sh"

mode=vhost-user
backend="${BACKEND:-}"
label=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --backend) backend="${2:?--backend needs a command}"; shift 2 ;;
        --peer)    backend='/usr/lib/qemu/vhost-user-gpu --socket-path {sock}'; label="peer QEMU 7.2"; shift ;;
        --peer10)  backend='{qemu10-vhost-user-gpu} --socket-path {sock}'; label="peer QEMU 10"; shift ;;
        --label)   label="${2:?}"; shift 2 ;;
        --inproc)  mode=inproc; shift ;;
        --kernel)  export E2E_KERNEL="${2:?}"; shift 2 ;;
        --mem)     export E2E_MEM_MB="${2:?}"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ "$mode" == vhost-user && -z "$backend" ]]; then
    echo "guest-screendump.sh: give --backend 'CMD {sock}', --peer, --peer10 or --inproc" >&2
    exit 2
fi

e2e_init
backend="${backend//\{qemu10-vhost-user-gpu\}/$QEMU10_VHOST_USER_GPU}"
first="${backend%% *}"
[[ -n "$label" ]] || label="${mode}${backend:+ (${first##*/})}"

finish() {
    e2e_log "whole run $(e2e_elapsed "$E2E_T0") s"
    e2e_summary
    [[ $E2E_FAILED -eq 0 ]]
}

for phase in 1 2; do
    "${E2E_REPO}/scripts/guest/expected.sh" "$phase" "${E2E_WORK}/expected-${phase}.ppm"
done

if [[ "$mode" == vhost-user ]] && ! e2e_start_backend "$backend"; then
    e2e_fail "${label}: backend start" "see backend log above"
    finish; exit
fi
e2e_start_guest "$mode"

# extra_check PHASE: the caller's hook, counted as its own check.
extra_check() {
    [[ -n "${EXTRA_CHECK_CMD:-}" ]] || return 0
    local phase="$1" expected="${E2E_WORK}/expected-${1}.ppm" runner
    if [[ -f "$EXTRA_CHECK_CMD" && -x "$EXTRA_CHECK_CMD" ]]; then
        runner=("$EXTRA_CHECK_CMD" "$phase" "$expected")
    else
        runner=(bash -c "$EXTRA_CHECK_CMD" extra-check "$phase" "$expected")
    fi
    local work="$E2E_WORK" qmp="${E2E_WORK}/qmp.sock"
    if E2E_PHASE="$phase" E2E_EXPECTED="$expected" E2E_WORK="$work" E2E_BACKEND_SOCK="${E2E_BACKEND_SOCK:-}" \
        E2E_QMP_SOCK="$qmp" "${runner[@]}"; then
        e2e_pass "${label}: phase ${phase} extra check"
    else
        e2e_fail "${label}: phase ${phase} extra check" "EXTRA_CHECK_CMD exited non-zero"
    fi
}

for phase in 1 2; do
    if [[ "$phase" == 2 ]]; then e2e_send next; fi
    t=$(date +%s.%N)
    if ! e2e_wait_marker "VIREO-GUEST phase=${phase} ready"; then
        e2e_fail "${label}: phase ${phase} marker" "$E2E_REASON"
        break
    fi
    if [[ "$phase" == 1 ]]; then
        e2e_log "boot to phase 1 marker: $(e2e_elapsed "$E2E_BOOT_T0") s; $(e2e_serial_lines | grep -m1 '^VIREO-GUEST fb ' || echo 'no fb line')"
    else
        e2e_log "phase 2 marker $(e2e_elapsed "$t") s after 'next'"
    fi
    if e2e_expect_screen "screen-${phase}" "${E2E_WORK}/expected-${phase}.ppm"; then
        e2e_pass "${label}: phase ${phase} screen"
    else
        e2e_fail "${label}: phase ${phase} screen" "$E2E_REASON"
    fi
    extra_check "$phase"
done

finish
