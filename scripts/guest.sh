#!/bin/sh
# Runs inside the QEMU guest (virtme-ng, host userland over 9p).
# $1: directory for results, $2: kselftest install dir, $3: the mode,
# $4, $5 and $6 (optional): the policy crate's iou-oracle-check,
# iou-record-check and iou-fuzz-check binaries, $7 (optional): each
# program's timeout in seconds, 900 by default. Each program runs on its
# own, under the timeout, its TAP in $1/ksft-<name>.tap and its exit
# status in $1/ksft-<name>.rc; the policy crate's as "policy-oracle",
# "policy-record" and "policy-fuzz".
#
# Modes: "test" runs every kselftest at bounded counts and the policy
# crate's checks (the fuzzer at its fixed seed); "stress" the stress
# fixture of bpf_filter_task and the races of bpf_filter_race at their
# full counts; "faults" bpf_filter_faults at its full range; "fuzz" the
# fuzzer over several seeds and longer runs.
out=$1
ksft=$2
mode=$3
oracle=$4
record=$5
fuzz=$6
timeout=${7:-900}

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
# The policy crate's programs send CONNECTs to 10.0.0.0/8, 2001:db8::
# and the like: those run in a network namespace of their own, with only
# loopback, so that none could reach a real network.
netns='ip link set lo up; exec "$@"'
case "$mode" in
stress)
	(cd "$ksft/io_uring" && export IO_URING_BPF_STRESS=full &&
		run bpf_filter_task ./bpf_filter_task -f stress
		run bpf_filter_race ./bpf_filter_race)
	;;
faults)
	(cd "$ksft/io_uring" && export IO_URING_BPF_FAULTS=full &&
		run bpf_filter_faults ./bpf_filter_faults)
	;;
fuzz)
	# Eight seeds, each over 96 fresh rings of 48 requests.
	tmp=$(mktemp -d 2>/dev/null || mktemp -d -p "$out")
	for seed in 0x66757a7a 1 2 3 4 5 6 7; do
		run "policy-fuzz-$seed" unshare --net sh -ec "$netns" sh \
			"$fuzz" --dir "$tmp" --seed "$seed" --rings 96 --requests 48
	done
	rm -rf "$tmp"
	;;
*)
	while IFS=: read -r dir prog; do
		(cd "$ksft/$dir" && run "$prog" "./$prog")
	done <"$ksft/kselftest-list.txt"

	# The policy tool's guest test: the kernel's verdicts on real
	# requests against the crate's oracle, for fixed-seed random
	# policies (ring level).
	if [ -n "$oracle" ]; then
		tmp=$(mktemp -d 2>/dev/null || mktemp -d -p "$out")
		run policy-oracle unshare --net sh -ec "$netns" sh \
			"$oracle" --dir "$tmp"
		rm -rf "$tmp"
	fi

	# iou-sandbox record and watch, through the io_uring tracepoints
	# (tracefs instances of their own).
	if [ -n "$record" ]; then
		tmp=$(mktemp -d 2>/dev/null || mktemp -d -p "$out")
		run policy-record "$record" --dir "$tmp"
		rm -rf "$tmp"
	fi

	# Random classic BPF programs, valid and invalid, on fresh rings,
	# against the crate's validator and evaluator (one fixed seed).
	if [ -n "$fuzz" ]; then
		tmp=$(mktemp -d 2>/dev/null || mktemp -d -p "$out")
		run policy-fuzz unshare --net sh -ec "$netns" sh \
			"$fuzz" --dir "$tmp"
		rm -rf "$tmp"
	fi
	;;
esac
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
