#!/usr/bin/env bash
# Instructions per batched NOP with 0..8 filters, and per fork() with 0
# (twice), 1 and 1000 task filters, on a kernel without the debugging
# options (a worktree of build/linux at the same commit, in
# build/bench-linux), in QEMU with "-icount shift=0": guest time counts
# guest instructions, 1 ns each, so the figures are repeatable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BT=$BUILD/bench-linux
head=$(git -C "$TREE" rev-parse HEAD)
if [ ! -d "$BT" ]; then
	git -C "$TREE" worktree add --quiet --detach "$BT" "$head"
else
	git -C "$BT" checkout --quiet --detach "$head"
fi
frags="$TOP/config/kernel.config $TOP/config/bench.config"
stamp=$BT/.config-fragment.sha
want=$( (cat $frags; echo "$head") | sha256sum | cut -d' ' -f1)
if [ ! -f "$BT/.config" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	TREE=$BT kmake tinyconfig >/dev/null
	(cd "$BT" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config $frags >/dev/null)
	TREE=$BT kmake olddefconfig >/dev/null
	grep -q '^CONFIG_IO_URING_BPF=y' "$BT/.config" || die "bench kernel lacks CONFIG_IO_URING_BPF"
	grep -q '^CONFIG_KASAN=y' "$BT/.config" && die "bench kernel still has KASAN"
	echo "$want" >"$stamp"
fi
echo "bench: building the kernel without debugging options"
TREE=$BT kmake -j"$JOBS" 2> >(grep -v 'KSYM_NAME_LEN\|^Symbol' >&2)

mkdir -p "$BUILD/bench"
for b in nop-bench fork-bench; do
	build_user "$TOP/bench/$b" "$BUILD/bench/$b"
done
cd "$BT"
timeout 900 "$VNG" --disable-kvm --memory 1G --cpus 1 \
	--qemu-opts="-icount shift=0" \
	-- sh -c "'$BUILD/bench/nop-bench' && echo && '$BUILD/bench/fork-bench'" </dev/null
