#!/bin/sh
# Runs inside the QEMU guest (virtme-ng, host userland over 9p).
# $1: directory for results, $2: kselftest install dir, $3: "test" or
# "stress", $4 and $5 (optional): the policy crate's iou-oracle-check and
# iou-record-check binaries. Each kselftest program runs on its own, under
# a timeout, its TAP in $1/ksft-<name>.tap and its exit status in
# $1/ksft-<name>.rc; so do iou-oracle-check, as "policy-oracle", and
# iou-record-check, as "policy-record". In stress mode only the stress
# fixture of bpf_filter_task runs, at its full counts. $6 (optional): each
# program's timeout in seconds, 900 by default.
out=$1
ksft=$2
mode=$3
oracle=$4
record=$5
timeout=${6:-900}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
. "$(dirname "$0")/guest-ports.sh"
ip link set lo up || echo "could not bring lo up" >"$out/setup-error"

echo "guest: $(uname -r), $(nproc) cpus, $mode"
run() {
	name=$1
	shift
	echo "guest: $name ($(cut -d' ' -f1 /proc/uptime) s)"
	timeout -k 10 "$timeout" "$@" >"$out/ksft-$name.tap" 2>&1
	echo $? >"$out/ksft-$name.rc"
}
if [ "$mode" = stress ]; then
	timeout=${KSFT_TIMEOUT:-3000}
	(cd "$ksft/io_uring" && export IO_URING_BPF_STRESS=full &&
		run bpf_filter_task ./bpf_filter_task -f stress)
else
	while IFS=: read -r dir prog; do
		(cd "$ksft/$dir" && run "$prog" "./$prog")
	done <"$ksft/kselftest-list.txt"

	# The policy tool's guest test: the kernel's verdicts on real
	# requests against the crate's oracle, for fixed-seed random
	# policies (ring level). Its CONNECTs go to 10.0.0.0/8, 2001:db8::
	# and the like: it runs in a network namespace of its own, with only
	# loopback, so that none could reach a real network.
	if [ -n "$oracle" ]; then
		tmp=$(mktemp -d 2>/dev/null || mktemp -d -p "$out")
		run policy-oracle unshare --net sh -ec \
			'ip link set lo up; exec "$@"' sh "$oracle" --dir "$tmp"
		rm -rf "$tmp"
	fi

	# iou-sandbox record and watch, through the io_uring tracepoints
	# (tracefs instances of their own).
	if [ -n "$record" ]; then
		tmp=$(mktemp -d 2>/dev/null || mktemp -d -p "$out")
		run policy-record "$record" --dir "$tmp"
		rm -rf "$tmp"
	fi
fi
echo "guest: done ($(cut -d' ' -f1 /proc/uptime) s)"

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
