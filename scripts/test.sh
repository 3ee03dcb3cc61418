#!/usr/bin/env bash
# Boot the built kernel in QEMU (virtme-ng), run the KUnit suites built
# into it, the io_uring kselftests and the policy crate's oracle check,
# and summarise.
#
# VNG_KVM=1 uses KVM where it works (see lib.sh); the default is TCG.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/out
TIMEOUT=${TEST_TIMEOUT:-1800}
rm -rf "$OUT"
mkdir -p "$OUT"

"$TOP/scripts/host-tests.sh" >"$OUT/host.txt" 2>&1 || true

# The policy crate's guest test, built on the host (the guest sees the
# host's files at the same paths). A failed build leaves no binary: the
# guest then records exit status 127, a failure.
oracle=$TOP/policy/target/release/iou-oracle-check
rm -f "$oracle"
(cd "$TOP/policy" && cargo build --release --locked --quiet --bin iou-oracle-check) \
	>"$OUT/oracle-build.txt" 2>&1 ||
	echo "test: building iou-oracle-check failed, see $OUT/oracle-build.txt"

# Every result the guest must leave; a missing one is a failure.
{ cut -d: -f2 "$BUILD/kselftest/kselftest-list.txt"; echo policy-oracle; } >"$OUT/expected"
for t in "$TOP"/tests/host/*.rs; do basename "$t" .rs; done >"$OUT/expected-host"
echo policy >>"$OUT/expected-host"
if grep -q '^CONFIG_DEBUG_KMEMLEAK=y' "$TREE/.config"; then
	touch "$OUT/expect-kmemleak"
fi

echo "test: booting $(make -s -C "$TREE" kernelversion) in QEMU (timeout ${TIMEOUT}s)"
rc=0
(cd "$TREE" && timeout --kill-after=30 "$TIMEOUT" \
	vng "${vng_accel[@]}" --memory 2G --cpus 2 --rwdir "$OUT" \
	--append "kmemleak=on" \
	-- sh "$TOP/scripts/guest.sh" "$OUT" "$BUILD/kselftest" "$oracle") \
	>"$OUT/console.txt" 2>&1 </dev/null || rc=$?
echo "$rc" >"$OUT/vng-exit"
python3 "$TOP/scripts/summarize.py" "$OUT"
