#!/usr/bin/env bash
# The VM tier as the last step of `npm test`: runs test/vm/run.sh when this machine can (root), and
# leaves its counts in .cache/vm-report.json for scripts/ci-summary.mjs. It is skipped, with the
# reason printed, when not root or when SD_TEST_VM=0 (a developer's quick run), and when the image
# cannot be built because Debian's mirror does not answer (run.sh exits 77 then): a mirror outage is
# not a failure of this project, and it is reported as 9 skipped, never as passed.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
REPORT="$REPO/.cache/vm-report.json"
mkdir -p "$REPO/.cache"
n_checks=$(sed -n '/^CHECKS=(/,/^)/p' "$HERE/run.sh" | grep -v '[()]' | wc -w)

report() { printf '{"passed":%d,"failed":%d,"skipped":%d,"reason":"%s"}\n' "$1" "$2" "$3" "$4" >"$REPORT"; }
skip() { echo "vm tier: skipped ($1)"; report 0 0 "$n_checks" "$1"; exit 0; }

[ "${SD_TEST_VM:-1}" = 0 ] && skip "SD_TEST_VM=0; run it with: sudo npm run test:vm"
[ "$(id -u)" -eq 0 ] || skip "needs root; run it with: sudo npm run test:vm"

echo "vm tier: test/vm/run.sh (docs/VM-TEST.md; SD_TEST_VM=0 skips it)"
log="$REPO/.cache/vm.log"
bash "$HERE/run.sh" --no-build 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 77 ] && skip "Debian's mirror unreachable, the image could not be built"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
passed=$(awk '{print $1}' <<<"${summary:-0 passed, 0 failed}")
failed=$(awk '{print $3}' <<<"${summary:-0 passed, 0 failed}")
# A run that died before its summary counts every check as failed.
if [ -z "$summary" ] || { [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; }; then passed=0; failed=$n_checks; fi
report "$passed" "$failed" 0 ""
exit "$rc"
