#!/bin/sh
# Runs inside the QEMU guest (virtme-ng, host userland over 9p).
# $1: directory for results, $2: kselftest install dir.
# Each kselftest program runs on its own, under a timeout, its TAP in
# $1/ksft-<name>.tap and its exit status in $1/ksft-<name>.rc.
out=$1
ksft=$2
timeout=${KSFT_TIMEOUT:-900}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
ip link set lo up 2>/dev/null

echo "guest: $(uname -r), $(nproc) cpus"
while IFS=: read -r dir prog; do
	echo "guest: $dir/$prog"
	(cd "$ksft/$dir" && timeout -k 10 "$timeout" "./$prog") \
		>"$out/ksft-$prog.tap" 2>&1
	echo $? >"$out/ksft-$prog.rc"
done <"$ksft/kselftest-list.txt"

# kmemleak reports objects unreferenced in two scans past their
# minimum age.
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan >/sys/kernel/debug/kmemleak
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >"$out/kmemleak.txt"
fi
dmesg >"$out/dmesg.txt"
echo "guest: done" >"$out/guest-done"
