#!/usr/bin/env bash
# Boot the built kernel in QEMU (virtme-ng), run the KUnit suites built
# into it, the io_uring kselftests and the policy crate's guest checks,
# run the host tests, and summarise against tests/expected.txt.
#
#   test.sh            make test: everything, stress tests bounded
#   test.sh --stress   make stress: the fork stress tests at full count
#                      (against tests/expected-stress.txt)
#   test.sh --rt       make test-rt: everything, on the PREEMPT_RT kernel
#                      that rt-kernel.sh built in build/rt-linux
#
# VNG_KVM=1 uses KVM where it works (see lib.sh); the default is TCG.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mode=test
OUT=$BUILD/out
case "${1:-}" in
--stress) mode=stress ;;
--rt) TREE=$BUILD/rt-linux OUT=$BUILD/out-rt ;;
esac
expected=$TOP/tests/expected.txt
TIMEOUT=${TEST_TIMEOUT:-1800}
# Each kselftest program's timeout in the guest.
KSFT_TIMEOUT=${KSFT_TIMEOUT:-900}
# A PREEMPT_RT debug kernel runs about three times slower under TCG: its
# bpf_filter program ran past 900 s on a slow machine of this kind.
if [ "${1:-}" = --rt ]; then
	TIMEOUT=${TEST_TIMEOUT:-5400}
	KSFT_TIMEOUT=2400
fi
if [ $mode = stress ]; then
	OUT=$BUILD/out-stress
	expected=$TOP/tests/expected-stress.txt
	TIMEOUT=${TEST_TIMEOUT:-3600}
fi
rm -rf "$OUT"
mkdir -p "$OUT"

oracle= record=
if [ $mode = test ]; then
	echo "test: host tests"
	"$TOP/scripts/host-tests.sh" >"$OUT/host.txt" 2>&1 || true

	# The policy crate's guest tests, built on the host (the guest sees
	# the host's files at the same paths). A failed build leaves no
	# binary: the guest then records exit status 127, a failure.
	oracle=$TOP/policy/target/release/iou-oracle-check
	record=$TOP/policy/target/release/iou-record-check
	rm -f "$oracle" "$record"
	(cd "$TOP/policy" && cargo build --release --locked --quiet \
		--bin iou-oracle-check --bin iou-record-check) \
		>"$OUT/oracle-build.txt" 2>&1 ||
		echo "test: building the policy crate's guest tests failed, see $OUT/oracle-build.txt"
fi
if grep -q '^CONFIG_DEBUG_KMEMLEAK=y' "$TREE/.config"; then
	touch "$OUT/expect-kmemleak"
fi

# loglevel=5: warnings and worse reach the console too, so that a splat
# is seen even when the guest dies before it saves its kernel log.
echo "test: booting $(make -s -C "$TREE" kernelversion) in QEMU (timeout ${TIMEOUT}s)"
start=$(date +%s)
rc=0
(cd "$TREE" && timeout --kill-after=30 "$TIMEOUT" \
	"$VNG" "${vng_accel[@]}" --memory 2G --cpus 2 --rwdir "$OUT" \
	--append "kmemleak=on loglevel=5" \
	-- sh "$TOP/scripts/guest.sh" "$OUT" "$BUILD/kselftest" "$mode" "$oracle" "$record" \
	"$KSFT_TIMEOUT") \
	>"$OUT/console.txt" 2>&1 </dev/null || rc=$?
echo "$rc" >"$OUT/vng-exit"
echo "test: the guest took $(($(date +%s) - start)) s"
python3 "$TOP/scripts/summarize.py" "$OUT" --expected "$expected"
