#!/bin/sh
# Runs inside the QEMU guest (virtme-ng, host userland over 9p).
# $1: directory for results, $2: kselftest install dir, $3 (optional):
# the policy crate's iou-oracle-check binary.
# Each kselftest program runs on its own, under a timeout, its TAP in
# $1/ksft-<name>.tap and its exit status in $1/ksft-<name>.rc; so does
# iou-oracle-check, as "policy-oracle".
out=$1
ksft=$2
oracle=$3
timeout=${KSFT_TIMEOUT:-900}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
ip link set lo up || echo "could not bring lo up" >"$out/setup-error"

echo "guest: $(uname -r), $(nproc) cpus"
while IFS=: read -r dir prog; do
	echo "guest: $dir/$prog"
	(cd "$ksft/$dir" && timeout -k 10 "$timeout" "./$prog") \
		>"$out/ksft-$prog.tap" 2>&1
	echo $? >"$out/ksft-$prog.rc"
done <"$ksft/kselftest-list.txt"

# The policy tool's guest test: the kernel's verdicts on real requests
# against the crate's oracle, for fixed-seed random policies (ring level).
if [ -n "$oracle" ]; then
	echo "guest: policy-oracle"
	tmp=$(mktemp -d 2>/dev/null || mktemp -d -p "$out")
	timeout -k 10 "$timeout" "$oracle" --dir "$tmp" \
		>"$out/ksft-policy-oracle.tap" 2>&1
	echo $? >"$out/ksft-policy-oracle.rc"
	rm -rf "$tmp"
fi

# kmemleak reports objects unreferenced in two scans past their
# minimum age. A scan that fails (kmemleak turned itself off) is an
# error, not an empty report.
kml=/sys/kernel/debug/kmemleak
if [ -e "$kml" ]; then
	if echo scan >"$kml" && sleep 6 && echo scan >"$kml"; then
		cat "$kml" >"$out/kmemleak.txt"
	else
		echo "scan failed" >"$out/kmemleak-error"
	fi
fi
dmesg >"$out/dmesg.txt"
cat /proc/sys/kernel/tainted >"$out/tainted"
echo "guest: done" >"$out/guest-done"
