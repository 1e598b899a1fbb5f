#!/usr/bin/env bash
# peers.sh: owns the reference run: the screendump test on QEMU's in-process GPU and both QEMU backends.
#
# Usage: tests/e2e/peers.sh [--kernel 6.1|6.12]
# Proves the harness and guest, independent of Vireo: all three must pass pixel-exactly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
passed=0 failed=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in --inproc --peer10 --peer; do
    echo "== guest-screendump.sh ${target} $*"
    "${here}/guest-screendump.sh" "$target" "$@" 2>&1 | tee "$log" || true
    out="$(tail -n1 "$log")"
    # Sum the per-run "e2e: N passed, N failed" lines.
    if [[ "$out" =~ ^e2e:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
    else
        failed=$((failed + 1))
    fi
done
echo "e2e: ${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
