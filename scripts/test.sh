#!/usr/bin/env bash
# Boot the built kernel in QEMU (virtme-ng), run the KUnit suites built
# into it, the io_uring kselftests and the policy crate's guest checks,
# run the host tests, and summarise against tests/expected.txt.
#
#   test.sh            make test: everything, stress tests bounded
#   test.sh --stress   make stress: the fork stress tests and the races
#                      at full count (against tests/expected-stress.txt)
#   test.sh --faults   make test-faults: fault injection over its full
#                      range (tests/expected-faults.txt)
#   test.sh --fuzz     make fuzz: the differential fuzzer over several
#                      seeds, longer (tests/expected-fuzz.txt)
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
--faults) mode=faults ;;
--fuzz) mode=fuzz ;;
--rt) TREE=$BUILD/rt-linux OUT=$BUILD/out-rt ;;
esac
expected=$TOP/tests/expected.txt
TIMEOUT=${TEST_TIMEOUT:-3000}
# Each kselftest program's timeout in the guest.
KSFT_TIMEOUT=${KSFT_TIMEOUT:-900}
# A PREEMPT_RT debug kernel runs about three times slower under TCG: its
# bpf_filter program ran past 900 s on a slow machine of this kind.
if [ "${1:-}" = --rt ]; then
	TIMEOUT=${TEST_TIMEOUT:-5400}
	KSFT_TIMEOUT=2400
fi
if [ $mode != test ]; then
	OUT=$BUILD/out-$mode
	expected=$TOP/tests/expected-$mode.txt
	TIMEOUT=${TEST_TIMEOUT:-3600}
fi
rm -rf "$OUT"
mkdir -p "$OUT"

# The policy crate's guest programs, built on the host (the guest sees
# the host's files at the same paths). A failed build leaves no binary:
# the guest then records exit status 127, a failure.
policy_bins() {
	local b args=()
	for b in "$@"; do
		rm -f "$TOP/policy/target/release/$b"
		args+=(--bin "$b")
	done
	(cd "$TOP/policy" && cargo build --release --locked --quiet "${args[@]}") \
		>"$OUT/policy-build.txt" 2>&1 ||
		echo "test: building the policy crate's guest programs failed, see $OUT/policy-build.txt"
}
bin=$TOP/policy/target/release
oracle= record= fuzz=
if [ $mode = test ]; then
	echo "test: host tests"
	"$TOP/scripts/host-tests.sh" >"$OUT/host.txt" 2>&1 || true
	oracle=$bin/iou-oracle-check record=$bin/iou-record-check fuzz=$bin/iou-fuzz-check
	policy_bins iou-oracle-check iou-record-check iou-fuzz-check
elif [ $mode = fuzz ]; then
	fuzz=$bin/iou-fuzz-check
	policy_bins iou-fuzz-check
fi
if grep -q '^CONFIG_DEBUG_KMEMLEAK=y' "$TREE/.config"; then
	touch "$OUT/expect-kmemleak"
fi

# loglevel=5: warnings and worse reach the console too, so that a splat
# is seen even when the guest dies before it saves its kernel log.
echo "test: booting $(make -s -C "$TREE" kernelversion) in QEMU (timeout ${TIMEOUT}s)"
start=$(date +%s)
rc=0
# One guest at a time (scripts/try.sh takes the same lock): two TCG
# guests on two cores starve each other into soft lockups.
(cd "$TREE" && flock "$BUILD/guest.lock" timeout --kill-after=30 "$TIMEOUT" \
	"$VNG" "${vng_accel[@]}" --memory 2G --cpus 2 --rwdir "$OUT" \
	--append "kmemleak=on loglevel=5" \
	-- sh "$TOP/scripts/guest.sh" "$OUT" "$BUILD/kselftest" "$mode" "$oracle" "$record" \
	"$fuzz" "$KSFT_TIMEOUT") \
	>"$OUT/console.txt" 2>&1 </dev/null || rc=$?
echo "$rc" >"$OUT/vng-exit"
echo "test: the guest took $(($(date +%s) - start)) s"
python3 "$TOP/scripts/summarize.py" "$OUT" --expected "$expected"
