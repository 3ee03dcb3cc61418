#!/bin/sh
# Runs inside the QEMU guest (virtme-ng, host userland over 9p).
# $1: directory for results, $2: kselftest install dir.
out=$1
ksft=$2

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug

echo "guest: $(uname -r), $(nproc) cpus"
cd "$ksft" && ./run_kselftest.sh >"$out/kselftest.tap" 2>&1
echo "guest: kselftests done"

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
