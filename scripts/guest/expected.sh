#!/usr/bin/env bash
# expected.sh: owns the expected screen for each guest phase, drawn on the host by the guest's own pattern.sh.
#
# Usage: scripts/guest/expected.sh PHASE OUT.ppm     PHASE 1 = full frame, 2 = frame + damage rectangles
#        scripts/guest/expected.sh PHASE OUT.raw --raw   (the B8G8R8X8 bytes instead of a PPM)
# The host's busybox (busybox-static, the same binary the initramfs carries) runs the script, so the pixels
# are identical to the guest's by construction.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

phase="${1:?usage: expected.sh PHASE OUT.ppm [--raw]}"
out="${2:?usage: expected.sh PHASE OUT.ppm [--raw]}"
fmt="${3:-}"
busybox="$(command -v busybox || true)"
[[ -n "$busybox" ]] || { echo "expected.sh: busybox not found (scripts/install-deps.sh)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The guest writes into a 4096000-byte framebuffer; start from zeros like a fresh one.
truncate -s $((5120 * 800)) "$tmp/fb"
PATTERN_TMP="$tmp" "$busybox" sh "$here/pattern.sh" frame "$tmp/fb"
case "$phase" in
    1) ;;
    2) PATTERN_TMP="$tmp" "$busybox" sh "$here/pattern.sh" damage "$tmp/fb" ;;
    *) echo "expected.sh: unknown phase '$phase' (1 or 2)" >&2; exit 2 ;;
esac

if [[ "$fmt" == --raw ]]; then
    cp "$tmp/fb" "$out"
    exit 0
fi
# B8G8R8X8 -> P6 RGB.
python3 - "$tmp/fb" "$out" <<'PY'
import sys
w, h = 1280, 800
src = open(sys.argv[1], "rb").read()
assert len(src) == w * h * 4, len(src)
rgb = bytearray(w * h * 3)
rgb[0::3] = src[2::4]
rgb[1::3] = src[1::4]
rgb[2::3] = src[0::4]
with open(sys.argv[2], "wb") as f:
    f.write(b"P6\n%d %d\n255\n" % (w, h))
    f.write(rgb)
PY
