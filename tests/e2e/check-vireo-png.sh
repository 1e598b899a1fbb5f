#!/usr/bin/env bash
# check-vireo-png.sh: EXTRA_CHECK_CMD hook: Vireo's own copy of the scanout, fetched as PNG from its HTTP API,
# must equal the expected picture pixel-exactly. Usage: check-vireo-png.sh PORT PHASE EXPECTED.ppm
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="$1" phase="$2" expected="$3"
out="${E2E_WORK:-/tmp}/vireo-${phase}.png"
curl -fsS "http://127.0.0.1:${port}/v1/displays" >&2; echo >&2
# The guest flushes before printing its marker, so the frame is already there; retry briefly anyway.
for try in 1 2 3 4 5; do
    curl -fsS -o "$out" "http://127.0.0.1:${port}/v1/displays/0/screenshot.png"
    if "${here}/compare-images.sh" "$out" "$expected"; then exit 0; fi
    sleep 0.5
done
exit 1
