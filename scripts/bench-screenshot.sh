#!/usr/bin/env bash
# bench-screenshot.sh: screenshot latency (request to last byte) and PNG size, side by side in one run on the same
# running guest: Vireo's `GET /v1/displays/0/screenshot.png` against QEMU's QMP `screendump` (format png), which
# through the vhost-user-gpu side channel shows the same picture. Also the cost of `compare` and `wait-for`.
# Usage: scripts/bench-screenshot.sh [N]   (needs release builds of vireo-gpu and vireo; prints a markdown table)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-30}"
port=$(( 20000 + RANDOM % 20000 ))
source "${repo}/tests/e2e/lib.sh"
e2e_init
e2e_start_backend "${repo}/.build/release/vireo-gpu --socket-path {sock} --http 127.0.0.1:${port}"
e2e_start_guest vhost-user
e2e_wait_marker "VIREO-GUEST phase=1 ready" || { echo "guest did not draw: ${E2E_REASON}" >&2; exit 1; }
sleep 1
url="http://127.0.0.1:${port}/v1/displays/0"
python3 - "$url" "${E2E_WORK}/qmp.sock" "$n" "${E2E_WORK}" "${repo}/.build/release/vireo" <<'PY'
import json, os, socket, statistics, subprocess, sys, time, urllib.request
url, qmp_path, n, work, vireo = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(qmp_path)
f = s.makefile("rwb", buffering=0)
def call(cmd):
    f.write((json.dumps(cmd) + "\n").encode())
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m: return m
json.loads(f.readline()); call({"execute": "qmp_capabilities"})
vireo_ms, qemu_ms, vsize, qsize = [], [], 0, 0
for i in range(n + 2):   # two warm-up rounds, alternating order
    for which in (("v", "q") if i % 2 == 0 else ("q", "v")):
        t = time.perf_counter()
        if which == "v":
            body = urllib.request.urlopen(url + "/screenshot.png").read(); vsize = len(body)
            d = (time.perf_counter() - t) * 1000
            if i >= 2: vireo_ms.append(d)
        else:
            out = os.path.join(work, "qemu.png")
            r = call({"execute": "screendump", "arguments": {"filename": out, "format": "png"}})
            assert "return" in r, r
            d = (time.perf_counter() - t) * 1000; qsize = os.path.getsize(out)
            if i >= 2: qemu_ms.append(d)
def p(xs, q): xs = sorted(xs); return xs[min(len(xs) - 1, int(q * len(xs)))]
# compare and wait-for through the CLI (includes process start), against the current picture.
ref = os.path.join(work, "ref.png"); open(ref, "wb").write(urllib.request.urlopen(url + "/screenshot.png").read())
env = dict(os.environ, VIREO_URL=url.rsplit("/v1", 1)[0])
def timed(args):
    ts = []
    for _ in range(10):
        t = time.perf_counter(); rc = subprocess.run([vireo] + args, env=env, capture_output=True).returncode
        ts.append((time.perf_counter() - t) * 1000); assert rc == 0, (args, rc)
    return statistics.median(ts)
cmp_ms = timed(["compare", "-d", "0", ref])
needle = os.path.join(work, "needle.png")
open(needle, "wb").write(urllib.request.urlopen(url + "/screenshot.png?region=600,300,64,64").read())
wait_ms = timed(["wait-for", "-d", "0", needle, "--timeout", "10s"])
print(f"| Vireo `GET screenshot.png` | {p(vireo_ms,.5):.1f} | {p(vireo_ms,.99):.1f} | {vsize} |")
print(f"| QEMU QMP `screendump` (png) | {p(qemu_ms,.5):.1f} | {p(qemu_ms,.99):.1f} | {qsize} |")
print(f"| ratio Vireo ÷ QEMU | {p(vireo_ms,.5)/p(qemu_ms,.5):.2f}x | {p(vireo_ms,.99)/p(qemu_ms,.99):.2f}x | {vsize/qsize:.2f}x |")
print(f"\n`vireo compare` (whole screen, CLI incl. process start) p50: {cmp_ms:.1f} ms; `vireo wait-for` a 64x64 needle: {wait_ms:.1f} ms")
PY
