#!/usr/bin/env bash
# bench-vnc.sh: VNC side by side in one run: Vireo's VNC export against QEMU's built-in VNC server, the same guest
# (scripts/guest/flip.c page-flipping four full-screen 1920x1080 pictures) and the same viewer (vnc-bench connect),
# for each encoding both servers have and the viewer reads (Raw, Zlib, ZRLE; Zlib twice: at each server's default
# level, and with the viewer asking both for level 9, QEMU's default).
#   QEMU side:  QEMU 10, in-process -device virtio-gpu-pci,xres=1920,yres=1080 -vnc (QEMU 10 refuses -vnc with
#               vhost-user-gpu); flush times from its virtio_gpu_cmd_res_flush trace point (-msg timestamp=on).
#   Vireo side: QEMU 10 with -device vhost-user-gpu-pci,xres=1920,yres=1080 -display none, and release
#               vireo-gpu --vnc ... --trace-flushes FILE.
# Per encoding and side: frames/s and bytes/frame while the guest flips at INTERVAL_MS (default 16.7: 60 Hz),
# then flush-to-viewer latency while it flips every LATENCY_INTERVAL_MS (default 200, so each received picture
# has one flush it can come from). The sides alternate for ROUNDS rounds (so machine noise is shared); prints a
# markdown table (median of the rounds, with their min-max) and the ratios Vireo / QEMU. Measures, never asserts.
# Usage: scripts/bench-vnc.sh [ROUNDS]   (needs release builds of vireo-gpu and vnc-bench, and a C compiler)
# Env: SECONDS_PER (default 10), INTERVAL_MS, LATENCY_INTERVAL_MS, ENCODINGS (default "raw zlib zlib:9 zrle"),
#      BENCH_OUT (keep the raw results there), VIREO_ARGS (extra vireo-gpu flags)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

if [[ "${1:-}" == --side ]]; then
    # One side, one round: boot the guest, measure every encoding, keep the flush trace. Args: SIDE OUT PORT.
    side="$2" out="$3" port="$4"
    source "${repo}/tests/e2e/lib.sh"
    e2e_init
    # The benchmark's guest program rides in a second cpio archive after the normal initramfs.
    stage="${E2E_WORK}/flip-root"
    mkdir -p "${stage}/bin"
    cp "${out}/flip" "${stage}/bin/flip"
    (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "${E2E_WORK}/flip.cpio.gz"
    cat "$VIREO_GUEST_INITRD" "${E2E_WORK}/flip.cpio.gz" > "${E2E_WORK}/initrd.gz"
    VIREO_GUEST_INITRD="${E2E_WORK}/initrd.gz"
    export E2E_APPEND="vireo.fb=1920,1080" E2E_GPU_PROPS="xres=1920,yres=1080"
    if [[ "$side" == qemu ]]; then
        export E2E_QEMU_ARGS="-vnc 127.0.0.1:$((port - 5900)) -trace enable=virtio_gpu_cmd_res_flush -msg timestamp=on -D {work}/trace.log"
        e2e_start_guest inproc
    else
        # shellcheck disable=SC2086 # VIREO_ARGS is a word list
        e2e_start_backend "${repo}/.build/release/vireo-gpu --socket-path {sock} --vnc 127.0.0.1:${port} --trace-flushes {work}/trace.log ${VIREO_ARGS:-}"
        e2e_start_guest vhost-user
    fi
    e2e_wait_marker "VIREO-GUEST phase=1 ready" || { echo "guest did not boot: ${E2E_REASON}" >&2; exit 1; }
    secs="${SECONDS_PER:-10}"
    for enc in ${ENCODINGS:-raw zlib zlib:9 zrle}; do
        # ENC:LEVEL asks both servers for that zlib level (CompressLevel pseudo-encoding); plain ENC leaves each
        # server its default.
        level=()
        [[ "$enc" == *:* ]] && level=(--compress-level "${enc#*:}")
        for kind in fps latency; do
            interval="${INTERVAL_MS:-16.7}"
            [[ "$kind" == latency ]] && interval="${LATENCY_INTERVAL_MS:-200}"
            tag="${enc}-${kind}"
            e2e_send "animate $((secs + 4)) ${interval} ${tag}"
            sleep 2   # flip.c draws its pictures first
            "${repo}/.build/release/vnc-bench" connect "127.0.0.1:${port}" --seconds "$secs" --encoding "${enc%:*}" "${level[@]}" \
                --frames-out "${out}/${side}-${tag}.frames" > "${out}/${side}-${tag}.txt"
            e2e_wait_marker "VIREO-GUEST animate tag=${tag} done" 60 || { echo "${E2E_REASON}" >&2; exit 1; }
            e2e_log "${side} ${tag}: $(cat "${out}/${side}-${tag}.txt")"
        done
    done
    e2e_serial_lines | grep 'VIREO-GUEST flip ' > "${out}/${side}-guest.txt" || true
    cp "${E2E_WORK}/trace.log" "${out}/${side}-trace.log"
    exit 0
fi

rounds="${1:-3}"
for b in vireo-gpu vnc-bench; do
    [[ -x "${repo}/.build/release/${b}" ]] || { echo "build it first: swift build -c release --product ${b}" >&2; exit 1; }
done
out="${BENCH_OUT:-$(mktemp -d /tmp/vireo-bench-vnc.XXXXXX)}"
mkdir -p "$out"
cc="$(command -v cc || command -v gcc || command -v clang)" || { echo "no C compiler for scripts/guest/flip.c" >&2; exit 1; }
"$cc" -static -O2 -o "${out}/flip" "${repo}/scripts/guest/flip.c"
for r in $(seq "$rounds"); do
    sides=(qemu vireo)
    (( r % 2 == 0 )) && sides=(vireo qemu)
    for side in "${sides[@]}"; do
        mkdir -p "${out}/round${r}"
        cp "${out}/flip" "${out}/round${r}/flip"
        "$0" --side "$side" "${out}/round${r}" $(( 20000 + RANDOM % 20000 ))
    done
done
echo "results in ${out}" >&2
python3 "${repo}/scripts/bench-vnc-report.py" "$out" "$rounds"
