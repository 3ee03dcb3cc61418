#!/usr/bin/env bash
# Build the series with PREEMPT_RT (config/kernel.config + config/rt.config)
# in build/rt-linux, a worktree of build/linux at the same commit, for
# `make test-rt`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RT=$BUILD/rt-linux
head=$(git -C "$TREE" rev-parse HEAD)
if [ ! -d "$RT" ]; then
	git -C "$TREE" worktree add --quiet --detach "$RT" "$head"
else
	git -C "$RT" checkout --quiet --detach "$head"
fi
frags="$TOP/config/kernel.config $TOP/config/rt.config"
stamp=$RT/.config-fragment.sha
want=$( (cat $frags; git -C "$RT" ls-files -s -- '*Kconfig*') | sha256sum | cut -d' ' -f1)
if [ ! -f "$RT/.config" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	echo "rt: configuring (tinyconfig + kernel.config + rt.config)"
	TREE=$RT kmake tinyconfig >/dev/null
	(cd "$RT" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config $frags >/dev/null)
	TREE=$RT kmake olddefconfig >/dev/null
	for opt in CONFIG_PREEMPT_RT=y CONFIG_IO_URING_BPF=y CONFIG_RUST=y CONFIG_KASAN=y; do
		grep -qxF "$opt" "$RT/.config" || die "the PREEMPT_RT kernel lacks $opt"
	done
	echo "$want" >"$stamp"
fi
echo "rt: building the PREEMPT_RT kernel (make -j$JOBS)"
TREE=$RT kmake -j"$JOBS" 2> >(grep -v 'KSYM_NAME_LEN\|^Symbol .* too long for kallsyms' >&2)
