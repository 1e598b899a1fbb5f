#!/usr/bin/env bash
# check-vireo-input.sh: EXTRA_CHECK_CMD hook for a guest with vireo-gpu's virtio-input device (--input-socket,
# QEMU -device vhost-user-input-pci): keys typed through vireo-gpu's input path (POST /v1/input/keys, the same
# InputSink the VNC server calls) must come out of the guest's /dev/input/event* as evdev codes, which the guest
# echoes on the serial line ("VIREO-GUEST key code=C value=V end").
# Usage: check-vireo-input.sh PORT PHASE EXPECTED.ppm [VNCPORT]
#   phase 1: keysym 'v' (0x76)          -> KEY_V (47) down, up
#   phase 2: text "H" (Shift added)     -> KEY_LEFTSHIFT (42) down, KEY_H (35) down, up, Shift up
#   phase 2 with VNCPORT (vireo-gpu --vnc): typed by a VNC client instead: KeyEvent keysym 'o' -> KEY_O (24) down,
#            up, then QEMU's extended key event with scancode 0x1e -> KEY_A (30) down, up
set -euo pipefail
port="$1" phase="$2" vncport="${4:-}"
serial="${E2E_WORK:?}/serial.log"
lines() { local n; n=$(wc -l < "$serial"); head -n "$n" "$serial" | tr -d '\r'; }
wait_line() {   # wait_line LINE SECONDS
    local i
    for i in $(seq $(( $2 * 10 ))); do
        lines | grep -qxF -- "$1" && return 0
        sleep 0.1
    done
    echo "check-vireo-input: no '$1' on the serial line within $2 s" >&2
    lines | grep '^VIREO-GUEST \(input\|key\)' | tail -n 10 >&2 || true
    return 1
}
lines | grep -q '^VIREO-GUEST input=event[0-9]* ready$' || {
    echo "check-vireo-input: the guest found no virtio-input event device" >&2; exit 1; }
# The driver read the whole config (EV_BITS, ABS_INFO) through QEMU: SYN KEY REL ABS LED; ABS_X/Y; both wheels;
# three LEDs.
caps_want="VIREO-GUEST input-caps ev=2000f abs=3 rel=140 led=7 end"
if ! lines | grep -qxF -- "$caps_want"; then
    echo "check-vireo-input: want '${caps_want}', got '$(lines | grep '^VIREO-GUEST input-caps' || true)'" >&2
    exit 1
fi
# vnc_type PORT: a VNC viewer (RFB 3.8, no authentication) types 'o' as a KeyEvent and KEY_A as QEMU's extended key
# event (listing pseudo-encoding -258 first, as noVNC does), then leaves.
vnc_type() {
    python3 - "$1" <<'PY'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
def read(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise SystemExit("vnc: server closed the connection")
        b += c
    return b
assert read(12).startswith(b"RFB 003."), "not an RFB server"
s.sendall(b"RFB 003.008\n")
types = read(read(1)[0])
if 1 not in types: raise SystemExit(f"vnc: no 'None' security type offered: {list(types)}")
s.sendall(b"\x01")
if struct.unpack(">I", read(4))[0] != 0: raise SystemExit("vnc: security handshake failed")
s.sendall(b"\x01")                                   # ClientInit, shared
read(20); read(struct.unpack(">I", read(4))[0])         # ServerInit: size, pixel format, name
s.sendall(struct.pack(">BBHii", 2, 0, 2, 0, -258))    # SetEncodings: Raw, QEMU extended key event
time.sleep(0.3)
for down in (1, 0):
    s.sendall(struct.pack(">BBHI", 4, down, 0, 0x6f))                # KeyEvent 'o'
    time.sleep(0.05)
for down in (1, 0):
    s.sendall(struct.pack(">BBHII", 255, 0, down, 0x61, 0x1e))       # QEMU extended key event, XT 0x1e
    time.sleep(0.05)
time.sleep(0.3)
s.close()
PY
}
case "$phase" in
    1) body='{"keysyms":[118]}'; want=("code=47 value=1" "code=47 value=0") ;;
    *) if [[ -n "$vncport" ]]; then
           want=("code=24 value=1" "code=24 value=0" "code=30 value=1" "code=30 value=0")
       else
           body='{"text":"H"}'; want=("code=42 value=1" "code=35 value=1" "code=35 value=0" "code=42 value=0")
       fi ;;
esac
if [[ "$phase" != 1 && -n "$vncport" ]]; then
    vnc_type "$vncport" || exit 1
    echo "check-vireo-input: typed over VNC on port ${vncport}" >&2
else
    curl -fsS -X POST -H 'Content-Type: application/json' --data "$body" "http://127.0.0.1:${port}/v1/input/keys" >&2
    echo >&2
fi
for w in "${want[@]}"; do wait_line "VIREO-GUEST key ${w} end" 30 || exit 1; done
# In order, as typed.
got="$(lines | sed -n 's/^VIREO-GUEST key \(code=[0-9]* value=[0-9]*\) end$/\1/p' | tail -n "${#want[@]}")"
if [[ "$got" != "$(printf '%s\n' "${want[@]}")" ]]; then
    echo "check-vireo-input: events out of order or extra: $(echo "$got" | tr '\n' ';')" >&2
    exit 1
fi
echo "check-vireo-input: phase ${phase}: $(echo "$got" | tr '\n' ';')" >&2
