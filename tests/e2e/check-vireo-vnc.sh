#!/usr/bin/env bash
# check-vireo-vnc.sh: EXTRA_CHECK_CMD hook: the scanout as a VNC client sees it (gvnccapture, which writes PNG)
# must equal the expected picture pixel-exactly. Usage: check-vireo-vnc.sh VNC_PORT PHASE EXPECTED.ppm
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="$1" phase="$2" expected="$3"
out="${E2E_WORK:-/tmp}/vireo-vnc-${phase}.png"
command -v gvnccapture >/dev/null || { echo "check-vireo-vnc: gvnccapture missing (Debian package gvncviewer)" >&2; exit 1; }
# gvnccapture names the port as a display number (PORT - 5900). The VNC mirror follows a flush within ~50 ms;
# retry briefly anyway.
for try in 1 2 3 4 5; do
    rm -f "$out"
    timeout 30 gvnccapture "127.0.0.1:$(( port - 5900 ))" "$out" >&2 || true
    if [[ -s "$out" ]] && "${here}/compare-images.sh" "$out" "$expected"; then exit 0; fi
    sleep 0.5
done
exit 1
