#!/usr/bin/env bash
# Instructions per batched NOP with 0..8 filters, and per fork() with 0
# (twice), 1 and 1000 task filters, on a kernel without the debugging
# options (a worktree of build/linux at the same commit, in
# build/bench-linux), in QEMU with "-icount shift=0": guest time counts
# guest instructions, 1 ns each, so the figures are repeatable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BT=$BUILD/bench-linux
worktree_configure "$BT" "$TOP/config/kernel.config" "$TOP/config/bench.config"
grep -q '^CONFIG_IO_URING_BPF=y' "$BT/.config" || die "bench kernel lacks CONFIG_IO_URING_BPF"
grep -q '^CONFIG_KASAN=y' "$BT/.config" && die "bench kernel still has KASAN"
echo "bench: building the kernel without debugging options"
TREE=$BT kmake -j"$JOBS" 2> >(grep -v 'KSYM_NAME_LEN\|^Symbol' >&2)

mkdir -p "$BUILD/bench"
for b in nop-bench fork-bench; do
	build_user "$TOP/bench/$b" "$BUILD/bench/$b"
done
# The guest writes the figures to a file in a --rwdir directory (see
# scripts/guest-ports.sh), printed here.
out=$BUILD/bench/out
rm -rf "$out"
mkdir -p "$out"
cd "$BT"
rc=0
timeout 900 "$VNG" --disable-kvm --memory 1G --cpus 1 \
	--qemu-opts="-icount shift=0" --rwdir "$out" \
	-- sh -c ". '$TOP/scripts/guest-ports.sh'
		{ '$BUILD/bench/nop-bench' && echo && '$BUILD/bench/fork-bench'
		} >'$out/output.txt' 2>&1" </dev/null >"$out/console.txt" 2>&1 || rc=$?
cat "$out/output.txt" 2>/dev/null || tail -n 40 "$out/console.txt" >&2
[ "$rc" = 0 ] || die "the guest failed (vng's exit status $rc), see $out/console.txt"
