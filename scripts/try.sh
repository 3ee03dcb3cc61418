#!/usr/bin/env bash
# A developer's loop: build one test program against the tree's headers
# and run it in a guest booted from the tree's kernel, without the rest
# of `make test`.
#
#   scripts/try.sh FILE.c [ARGS...]   a C test (kselftest_harness or not)
#   scripts/try.sh -- CMD [ARGS...]   any command (host paths are shared)
#
# FILE.c may include "helpers.h" and "../kselftest_harness.h" as the
# io_uring selftests do: it is built with the tree's selftest directory on
# the include path. Results go to build/try/<name>/: out.txt (the
# program's output and exit status), dmesg.txt and console.txt. Guests
# run one at a time (a lock in build/), since two TCG guests on two cores
# starve each other into soft lockups.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -f "$TREE/arch/x86/boot/bzImage" ] || die "no kernel in $TREE: run 'make selftests'"
[ $# -gt 0 ] || die "usage: scripts/try.sh FILE.c [ARGS...] | -- CMD [ARGS...]"
if [ "$1" = -- ]; then
	shift
	name=$(basename "$1")
	out=$BUILD/try/$name
	mkdir -p "$out"
	cmd=("$@")
else
	src=$(realpath "$1")
	shift
	name=$(basename "$src" .c)
	out=$BUILD/try/$name
	mkdir -p "$out"
	[ -d "$TREE/usr/include/linux" ] || kmake headers_install >/dev/null
	gcc -Wall -O2 -g \
		-I"$TREE/tools/testing/selftests/io_uring" \
		-isystem "$TREE/usr/include" -o "$out/$name" "$src" -lpthread
	cmd=("$out/$name" "$@")
fi
rm -f "$out/out.txt" "$out/dmesg.txt"
printf '%q ' "${cmd[@]}" >"$out/cmd"
cat >"$out/guest.sh" <<GUEST
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
ip link set lo up 2>/dev/null
cd "$out"
sh -c "\$(cat "$out/cmd")" >"$out/out.txt" 2>&1
echo "exit status \$?" >>"$out/out.txt"
dmesg >"$out/dmesg.txt"
GUEST
echo "try: $name in a guest (waiting for build/guest.lock)"
rc=0
(cd "$TREE" && flock "$BUILD/guest.lock" timeout --kill-after=30 "${TRY_TIMEOUT:-1800}" \
	"$VNG" "${vng_accel[@]}" --memory 2G --cpus 2 --rwdir "$out" \
	--append "kmemleak=on loglevel=5" -- sh "$out/guest.sh") \
	>"$out/console.txt" 2>&1 </dev/null || rc=$?
tail -n 40 "$out/out.txt" 2>/dev/null || echo "try: no output (vng exit $rc), see $out/console.txt"
if grep -qE "BUG:|WARNING:|KASAN|INFO: rcu|soft lockup|hung_task|Call Trace" "$out/dmesg.txt" 2>/dev/null; then
	echo "try: the kernel log has a splat: $out/dmesg.txt"
fi
echo "try: results in $out (vng exit $rc)"
