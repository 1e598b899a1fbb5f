#!/usr/bin/env bash
# test.sh: the whole test suite: Swift unit + integration tests, then real-guest end-to-end tests.
# Prints one closing line "N passed, N failed" over both parts and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
swift build --build-tests || exit 1
swift test --skip-build 2>&1 | tee /tmp/vireo-swift-test.log
swift_rc=${PIPESTATUS[0]}
[[ $swift_rc -eq 0 ]] || status=1
# Swift Testing's closing line: "Test run with N tests in M suites passed/failed ... with K issues".
unit_total=$(grep -Eo 'Test run with [0-9]+ tests?' /tmp/vireo-swift-test.log | tail -1 | grep -Eo '[0-9]+' || echo 0)
unit_failed=$(grep -Ec '^✘ Test .* failed after' /tmp/vireo-swift-test.log || true)
unit_passed=$(( unit_total - unit_failed ))

swift build -c release --product vireo-gpu || exit 1
swift build -c release --product vireo || exit 1
bash tests/e2e/run-all.sh 2>&1 | tee /tmp/vireo-e2e.log
e2e_rc=${PIPESTATUS[0]}
[[ $e2e_rc -eq 0 ]] || status=1
e2e_passed=$(grep -Ec '^PASS:' /tmp/vireo-e2e.log || true)
e2e_failed=$(grep -Ec '^FAIL:' /tmp/vireo-e2e.log || true)
e2e_skipped=$(grep -Ec '^SKIP:' /tmp/vireo-e2e.log || true)

echo
echo "unit+integration: ${unit_passed} passed, ${unit_failed} failed (swift test exit ${swift_rc})"
echo "real-guest e2e:   ${e2e_passed} passed, ${e2e_failed} failed, ${e2e_skipped} skipped (exit ${e2e_rc})"
echo "$(( unit_passed + e2e_passed )) passed, $(( unit_failed + e2e_failed )) failed, ${e2e_skipped} skipped"
exit $status
