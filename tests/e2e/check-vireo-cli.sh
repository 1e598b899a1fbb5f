#!/usr/bin/env bash
# check-vireo-cli.sh: EXTRA_CHECK_CMD hook: the screenshot-testing CLI against a real guest on vireo-gpu.
# Phase 1: `vireo screenshot --wait-settled` equals the expected picture; `vireo compare` with a mask matches (0).
# Phase 2: `vireo wait-for` finds a piece of the changed picture (0); comparing against phase 1 mismatches (1).
# Usage: check-vireo-cli.sh PORT PHASE EXPECTED.ppm
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
vireo="${VIREO_CLI:-${repo}/.build/release/vireo}"
port="$1" phase="$2" expected="$3"
work="${E2E_WORK:-$(mktemp -d)}"
export VIREO_URL="http://127.0.0.1:${port}"
fail() { echo "check-vireo-cli: $*" >&2; exit 1; }

pnmtopng "$expected" > "${work}/ref-${phase}.png" 2>/dev/null || fail "pnmtopng failed"
if [[ "$phase" == 1 ]]; then
    "$vireo" screenshot -d 0 -o "${work}/cli-1.png" --wait-settled 300ms || fail "vireo screenshot exited $?"
    "${here}/compare-images.sh" "${work}/cli-1.png" "$expected" || fail "vireo screenshot differs from the expected picture"
    "$vireo" compare -d 0 "${work}/ref-1.png" --mask 0,0,8,8 --wait-settled 300ms; rc=$?
    [[ $rc -eq 0 ]] || fail "vireo compare against the expected picture exited ${rc} (want 0)"
else
    # A piece of the first damage rectangle with its surroundings (pattern.sh: rect 37 53 64 40).
    pamcut -left 29 -top 45 -width 80 -height 56 "$expected" | pnmtopng > "${work}/needle.png" 2>/dev/null
    "$vireo" wait-for -d 0 "${work}/needle.png" --timeout 20s; rc=$?
    [[ $rc -eq 0 ]] || fail "vireo wait-for the changed area exited ${rc} (want 0)"
    pnmtopng "${work}/expected-1.ppm" > "${work}/old.png" 2>/dev/null
    "$vireo" compare -d 0 "${work}/old.png"; rc=$?
    [[ $rc -eq 1 ]] || fail "vireo compare against the old picture exited ${rc} (want 1: mismatch)"
fi
