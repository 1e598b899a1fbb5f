#!/usr/bin/env bash
# cli.sh: the vireo-gpu command-line contract (QEMU's backend program conventions): --print-capabilities,
# --virgl refusal, --help/--version, usage errors, --fd with an inherited socket, SIGTERM removing the socket.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
bin="${VIREO_GPU:-${repo}/.build/release/vireo-gpu}"
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: cli: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: cli: $1"; }
check() { local name="$1"; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
work="$(mktemp -d /tmp/vireo-cli.XXXXXX)"
trap 'rm -rf "$work"' EXIT

caps="$("$bin" --print-capabilities)"
check "--print-capabilities prints the conventions' JSON" \
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["type"]=="gpu" and isinstance(d["features"], list)' "$caps"

"$bin" --virgl --socket-path "$work/v.sock" >"$work/virgl.out" 2>&1; rc=$?
check "--virgl exits 1 with a clear message" bash -c "[[ $rc -eq 1 ]] && grep -q 'not available' '$work/virgl.out'"

check "--help documents --socket-path and --fd" bash -c "'$bin' --help | grep -q -- --socket-path && '$bin' --help | grep -q -- --fd"
check "--version prints a version" bash -c "'$bin' --version | grep -Eq '^[0-9]+\.[0-9]+'"

"$bin" >/dev/null 2>&1; rc=$?
check "no --socket-path/--fd is a usage error (exit 64)" test "$rc" -eq 64
"$bin" --socket-path "$work/x.sock" --display 5x5 >/dev/null 2>&1; rc=$?
check "--display out of range is a usage error" test "$rc" -eq 64

# --fd: a connected socket inherited from the parent (libvirt's way); GET_FEATURES must be answered.
check "--fd serves an inherited socket (GET_FEATURES answered with VERSION_1)" python3 - "$bin" <<'PY'
import socket, struct, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen([sys.argv[1], "--fd", str(b.fileno()), "--log-level", "error"], pass_fds=[b.fileno()])
b.close()
a.settimeout(10)
a.sendall(struct.pack("<III", 1, 1, 0))            # GET_FEATURES, version 1
hdr = a.recv(12); req, flags, size = struct.unpack("<III", hdr)
features, = struct.unpack("<Q", a.recv(size))
a.close()
p.wait(timeout=10)
assert req == 1 and flags & 4 and features & (1 << 32), (req, flags, hex(features))
PY

# SIGTERM: clean exit and the socket file removed.
"$bin" --socket-path "$work/t.sock" --log-level error & pid=$!
for _ in $(seq 50); do [[ -S "$work/t.sock" ]] && break; sleep 0.1; done
kill -TERM "$pid"; wait "$pid"; rc=$?
check "SIGTERM exits 0 and removes the socket" bash -c "[[ $rc -eq 0 && ! -e '$work/t.sock' ]]"

echo "cli: ${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
