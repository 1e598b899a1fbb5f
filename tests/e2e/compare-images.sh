#!/usr/bin/env bash
# compare-images.sh: owns the standalone pixel-exact image comparison (PPM or PNG) used by checks and hooks.
#
# Usage: tests/e2e/compare-images.sh ACTUAL EXPECTED     (each .ppm (P6) or .png; headers are not compared)
# Prints "identical (WxH)" or "N of M pixels differ; first: ..." and exits 0 / 1.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
[[ $# -eq 2 ]] || { echo "usage: $0 ACTUAL EXPECTED" >&2; exit 2; }
e2e_compare "$1" "$2"
