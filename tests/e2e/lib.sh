# lib.sh: owns the e2e harness mechanics: backend process, QEMU 10 guest, serial markers, QMP screendumps,
# pixel comparison, pass/fail counting and teardown. Sourced by tests/e2e/*.sh (which set -euo pipefail).
#
# Environment (all optional):
#   VIREO_CACHE        cache of QEMU 10 and the guest (default /var/cache/vireo)
#   E2E_KERNEL         guest kernel series, 6.1 (default) or 6.12
#   E2E_MEM_MB         guest RAM in MiB (default 256); the memfd backend gets the same size
#   E2E_TIMEOUT        seconds to wait for each guest marker (default 120)
#   E2E_SCREEN_TIMEOUT seconds to retry a screendump until it matches after a marker (default 15)
#   E2E_ACCEL          tcg or kvm (default: kvm only where it works and is not the paravirtual kvm_pvm)
#   E2E_QEMU_ARGS      extra QEMU arguments (word-split; {work} = the run's work folder), e.g. "-device virtio-iommu-pci"
#   E2E_GPU_PROPS      extra GPU device properties, e.g. "iommu_platform=on"
#   E2E_APPEND         extra kernel arguments, e.g. "vireo.fb=1920,1080" (the size init.sh expects)
#   E2E_KEEP           1: keep the work folder (logs, screendumps) even on success
#   E2E_ARTIFACTS      folder to copy logs and screendumps into when a check fails

# shellcheck shell=bash
# shellcheck disable=SC2034 # globals here are read by the scripts that source this file
E2E_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
E2E_PASSED=0
E2E_FAILED=0
E2E_QEMU_PID=""
E2E_BACKEND_PID=""
E2E_SERIAL_PID=""
E2E_SERIAL_FD=""
E2E_WORK=""
E2E_EXTRA_PIDS=()        # helper processes a script started itself; stopped at teardown
E2E_T0=$(date +%s.%N)

e2e_log() { echo "e2e: $*" >&2; }
e2e_elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# Records one check. e2e_pass NAME / e2e_fail NAME REASON.
e2e_pass() { E2E_PASSED=$((E2E_PASSED + 1)); echo "PASS: $1"; }
e2e_fail() {
    E2E_FAILED=$((E2E_FAILED + 1))
    echo "FAIL: $1: $2"
    e2e_save_artifacts
}

e2e_summary() { echo "e2e: ${E2E_PASSED} passed, ${E2E_FAILED} failed"; }

# Prints the last lines of a log with a title, for failure reports.
e2e_tail() {
    local title="$1" file="$2" n="${3:-25}"
    if [[ ! -s "$file" ]]; then echo "---- ${title}: ${file} is empty ----"; return 0; fi
    echo "---- ${title} (last ${n} lines of ${file}) ----"
    tail -n "$n" "$file" | tr -d '\r'
    echo "----"
}

e2e_save_artifacts() {
    [[ -n "${E2E_ARTIFACTS:-}" && -n "$E2E_WORK" ]] || return 0
    mkdir -p "$E2E_ARTIFACTS"
    cp -f "$E2E_WORK"/*.log "$E2E_WORK"/*.ppm "$E2E_ARTIFACTS"/ 2>/dev/null || true
}

# Creates the work folder and installs the teardown trap. Call once, first.
e2e_init() {
    E2E_WORK="$(mktemp -d /tmp/vireo-e2e.XXXXXX)"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
    eval "$("${E2E_REPO}/scripts/fetch-qemu10.sh" --env)"
    eval "$("${E2E_REPO}/scripts/guest/build-guest.sh" --kernel "${E2E_KERNEL:-6.1}")"
    e2e_log "work folder ${E2E_WORK}; $("$QEMU10_BIN" --version | head -n1); kernel $(basename "$VIREO_GUEST_KERNEL")"
}

# Stops PID (TERM, then KILL after 5 s) and waits for it. With "group", signals its process group
# (the backend runs under setsid so helper children go too).
e2e_stop() {
    local pid="$1" group="${2:-}" target i
    [[ -n "$pid" ]] || return 0
    target="$pid"; [[ "$group" == group ]] && target="-$pid"
    kill -TERM -- "$target" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "$target" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

e2e_cleanup() {
    local rc=$? t0
    t0=$(date +%s.%N)
    e2e_stop "$E2E_QEMU_PID"
    e2e_stop "$E2E_BACKEND_PID" group
    e2e_stop "$E2E_SERIAL_PID"
    local p
    for p in "${E2E_EXTRA_PIDS[@]}"; do e2e_stop "$p"; done
    E2E_EXTRA_PIDS=()
    [[ -n "$E2E_SERIAL_FD" ]] && exec {E2E_SERIAL_FD}>&- 2>/dev/null
    E2E_QEMU_PID="" E2E_BACKEND_PID="" E2E_SERIAL_PID="" E2E_SERIAL_FD=""
    [[ "${E2E_VERBOSE:-0}" == 1 ]] && e2e_log "teardown $(e2e_elapsed "$t0") s"
    if [[ -n "$E2E_WORK" && -d "$E2E_WORK" ]]; then
        rm -f "$E2E_WORK"/*.sock "$E2E_WORK"/serial.in
        if [[ "${E2E_KEEP:-0}" == 1 || $E2E_FAILED -gt 0 || $rc -ne 0 ]]; then
            e2e_log "kept logs and screendumps in ${E2E_WORK}"
        else
            rm -rf "$E2E_WORK"
        fi
    fi
    return $rc
}

# Prints tcg or kvm. KVM is used only where it is a real one (not kvm_pvm, which cannot boot stock kernels)
# and a q35 VM actually starts on it.
e2e_accel() {
    if [[ -n "${E2E_ACCEL:-}" ]]; then echo "$E2E_ACCEL"; return; fi
    if [[ -w /dev/kvm && ! -e /sys/module/kvm_pvm ]] &&
        echo quit | timeout 10 "$QEMU10_BIN" -L "$QEMU10_FIRMWARE" -machine q35,accel=kvm -nodefaults \
            -no-user-config -display none -monitor stdio -S >/dev/null 2>&1; then
        echo kvm
    else
        echo tcg
    fi
}

# e2e_start_backend 'CMD with {sock} and {work}': starts it in its own process group and waits until its
# socket exists (QEMU connects as the client, so the backend must listen first).
e2e_start_backend() {
    local cmd="$1" i
    E2E_BACKEND_SOCK="${E2E_WORK}/gpu.sock"
    cmd="${cmd//\{sock\}/$E2E_BACKEND_SOCK}"
    cmd="${cmd//\{work\}/$E2E_WORK}"
    e2e_log "backend: ${cmd}"
    setsid bash -c "exec ${cmd}" >"${E2E_WORK}/backend.log" 2>&1 &
    E2E_BACKEND_PID=$!
    for i in $(seq 100); do
        [[ -S "$E2E_BACKEND_SOCK" ]] && return 0
        if ! kill -0 "$E2E_BACKEND_PID" 2>/dev/null; then
            e2e_tail backend "${E2E_WORK}/backend.log"
            e2e_log "backend exited before listening on ${E2E_BACKEND_SOCK}"
            return 1
        fi
        sleep 0.1
    done
    e2e_tail backend "${E2E_WORK}/backend.log"
    e2e_log "backend did not create ${E2E_BACKEND_SOCK} within 10 s"
    return 1
}

# e2e_start_guest vhost-user|inproc: boots the guest under QEMU 10. The serial port is a unix socket that
# QEMU connects to (so no early output is lost); socat copies it to serial.log and feeds it from a fifo.
e2e_start_guest() {
    local mode="$1" mem="${E2E_MEM_MB:-256}" accel gpu i
    accel="$(e2e_accel)"
    mkfifo "${E2E_WORK}/serial.in"
    # Read-write open of a fifo never blocks; it keeps socat's stdin open for the whole run.
    exec {E2E_SERIAL_FD}<>"${E2E_WORK}/serial.in"
    socat -b 65536 "UNIX-LISTEN:${E2E_WORK}/serial.sock" STDIO \
        <"${E2E_WORK}/serial.in" >"${E2E_WORK}/serial.log" 2>"${E2E_WORK}/socat.log" &
    E2E_SERIAL_PID=$!
    for i in $(seq 50); do [[ -S "${E2E_WORK}/serial.sock" ]] && break; sleep 0.1; done

    local props="${E2E_GPU_PROPS:+,${E2E_GPU_PROPS}}"
    case "$mode" in
        vhost-user)
            # Guest RAM must be a shared memfd (share=on) with -m equal to its size, or the backend never
            # sees the guest's writes (no error anywhere, just a black screen).
            gpu=(-object "memory-backend-memfd,id=mem,size=${mem}M,share=on"
                 -chardev "socket,id=vgpu,path=${E2E_BACKEND_SOCK}"
                 -device "vhost-user-gpu-pci,chardev=vgpu${props}")
            ;;
        inproc)
            gpu=(-object "memory-backend-ram,id=mem,size=${mem}M" -device "virtio-gpu-pci${props}") ;;
        *) e2e_log "unknown guest mode ${mode}"; return 1 ;;
    esac
    # shellcheck disable=SC2206 # E2E_QEMU_ARGS is a word list on purpose; {work} is the run's work folder
    local args="${E2E_QEMU_ARGS:-}"
    local extra=(${args//\{work\}/$E2E_WORK})
    local cmd=("$QEMU10_BIN" -L "$QEMU10_FIRMWARE"
        -machine "q35,accel=${accel},memory-backend=mem" -m "$mem" -smp 1
        -nodefaults -no-user-config -vga none -display none   # else a VGA becomes console 0
        "${gpu[@]}" "${extra[@]}"
        -qmp "unix:${E2E_WORK}/qmp.sock,server=on,wait=off"
        -chardev "socket,id=ser0,path=${E2E_WORK}/serial.sock" -serial chardev:ser0
        -kernel "$VIREO_GUEST_KERNEL" -initrd "$VIREO_GUEST_INITRD"
        -append "console=ttyS0 loglevel=4 vt.global_cursor_default=0 consoleblank=0 panic=-1${E2E_APPEND:+ ${E2E_APPEND}}"
        -no-reboot)
    echo "${cmd[*]}" > "${E2E_WORK}/qemu.cmd"
    e2e_log "guest: ${mode}, ${accel}, ${mem} MiB (command line in ${E2E_WORK}/qemu.cmd)"
    E2E_BOOT_T0=$(date +%s.%N)
    "${cmd[@]}" >"${E2E_WORK}/qemu.log" 2>&1 &
    E2E_QEMU_PID=$!
}

# Prints the serial log's complete lines (those ending in a newline), without carriage returns.
e2e_serial_lines() {
    local n
    n=$(wc -l < "${E2E_WORK}/serial.log")
    head -n "$n" "${E2E_WORK}/serial.log" | tr -d '\r'
}

# e2e_wait_marker LINE [TIMEOUT]: waits for a complete serial line equal to LINE. Fails early on a guest
# error marker or a dead QEMU/backend.
e2e_wait_marker() {
    local want="$1" timeout="${2:-${E2E_TIMEOUT:-120}}" t0 err
    t0=$(date +%s)
    while :; do
        if e2e_serial_lines | grep -qxF -- "$want"; then return 0; fi
        err="$(e2e_serial_lines | grep -m1 '^VIREO-GUEST error=' || true)"
        if [[ -n "$err" ]]; then
            E2E_REASON="guest reported: ${err}"; e2e_diagnose; return 1
        fi
        if ! kill -0 "$E2E_QEMU_PID" 2>/dev/null; then
            E2E_REASON="QEMU exited while waiting for '${want}'"; e2e_diagnose; return 1
        fi
        if [[ -n "$E2E_BACKEND_PID" ]] && ! kill -0 "$E2E_BACKEND_PID" 2>/dev/null; then
            E2E_REASON="backend exited while waiting for '${want}'"; e2e_diagnose; return 1
        fi
        if (( $(date +%s) - t0 >= timeout )); then
            E2E_REASON="no '${want}' on the serial console within ${timeout} s"; e2e_diagnose; return 1
        fi
        sleep 0.1
    done
}

e2e_diagnose() {
    e2e_tail serial "${E2E_WORK}/serial.log" 30
    e2e_tail qemu "${E2E_WORK}/qemu.log"
    e2e_tail backend "${E2E_WORK}/backend.log"
}

# e2e_send LINE: types a line on the guest's serial console.
e2e_send() { printf '%s\n' "$1" >&"$E2E_SERIAL_FD"; }

# e2e_qmp 'JSON command' ...: runs QMP commands in one session; prints each reply, fails on an error reply.
e2e_qmp() {
    python3 - "${E2E_WORK}/qmp.sock" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
f = s.makefile("rwb", buffering=0)
def reply():
    while True:
        line = f.readline()
        if not line:
            sys.exit("qmp: connection closed")
        msg = json.loads(line)
        if "return" in msg or "error" in msg:
            return msg
json.loads(f.readline())                      # greeting
for n, cmd in enumerate(['{"execute":"qmp_capabilities"}'] + sys.argv[2:]):
    f.write(cmd.encode() + b"\n")
    r = reply()
    if "error" in r:
        sys.exit("qmp: %s -> %s" % (cmd, r["error"]))
    if n > 0:
        print(json.dumps(r))
PY
}

# e2e_screendump OUT.ppm: the guest's screen as QEMU's console sees it (PPM).
e2e_screendump() {
    e2e_qmp "{\"execute\":\"screendump\",\"arguments\":{\"filename\":\"$1\"}}" >/dev/null
}

# e2e_compare ACTUAL EXPECTED: pixel-exact comparison of two images (PPM, or PNG via pngtopnm); headers
# are parsed, only pixel data is compared. Prints a one-line verdict; returns 1 on a mismatch.
e2e_compare() {
    local a="$1" b="$2" f tmp rc=0
    tmp="$(mktemp -d)"
    for f in a b; do
        if [[ "${!f}" == *.png ]]; then
            pngtopnm "${!f}" > "${tmp}/${f}.ppm" || { rm -rf "$tmp"; echo "cannot decode ${!f}"; return 1; }
            printf -v "$f" '%s' "${tmp}/${f}.ppm"
        fi
    done
    python3 - "$a" "$b" <<'PY' || rc=$?
import sys
def load(path):
    data = open(path, "rb").read()
    # P6 header: magic, width, height, maxval, separated by whitespace (comments allowed), then one byte.
    fields, i = [], 0
    while len(fields) < 4:
        while data[i:i+1].isspace(): i += 1
        if data[i:i+1] == b"#":
            while data[i:i+1] not in (b"\n", b""): i += 1
            continue
        j = i
        while not data[j:j+1].isspace(): j += 1
        fields.append(data[i:j]); i = j
    if fields[0] != b"P6" or fields[3] != b"255":
        sys.exit("compare: %s is not an 8-bit P6 PPM" % path)
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[i+1:i+1+w*h*3]
wa, ha, pa = load(sys.argv[1])
wb, hb, pb = load(sys.argv[2])
if (wa, ha) != (wb, hb):
    print("size differs: actual %dx%d, expected %dx%d" % (wa, ha, wb, hb)); sys.exit(1)
if pa == pb:
    print("identical (%dx%d)" % (wa, ha)); sys.exit(0)
diff, first = 0, []
mv_a, mv_b = memoryview(pa), memoryview(pb)
for p in range(wa * ha):
    o = p * 3
    if mv_a[o:o+3] != mv_b[o:o+3]:
        diff += 1
        if len(first) < 5:
            first.append("(%d,%d) got %s want %s" % (p % wa, p // wa, bytes(mv_a[o:o+3]).hex(), bytes(mv_b[o:o+3]).hex()))
print("%d of %d pixels differ; first: %s" % (diff, wa * ha, "; ".join(first)))
sys.exit(1)
PY
    rm -rf "$tmp"
    return $rc
}

# e2e_expect_screen NAME EXPECTED.ppm: screendumps until the screen equals EXPECTED (the guest's damage
# reaches the console asynchronously after its marker) or E2E_SCREEN_TIMEOUT passes. Sets E2E_REASON.
e2e_expect_screen() {
    local name="$1" want="$2" t0 tries=0 verdict=""
    t0=$(date +%s)
    while :; do
        tries=$((tries + 1))
        if ! e2e_screendump "${E2E_WORK}/${name}.ppm" 2>"${E2E_WORK}/qmp-error.log"; then
            verdict="screendump failed: $(tr -d '\n' < "${E2E_WORK}/qmp-error.log")"
        elif verdict="$(e2e_compare "${E2E_WORK}/${name}.ppm" "$want")"; then
            e2e_log "${name}: ${verdict} after ${tries} screendump(s)"
            return 0
        fi
        if (( $(date +%s) - t0 >= ${E2E_SCREEN_TIMEOUT:-15} )); then
            E2E_REASON="screen does not match after ${tries} screendumps: ${verdict} (actual ${E2E_WORK}/${name}.ppm, expected ${want})"
            return 1
        fi
        sleep 0.5
    done
}
