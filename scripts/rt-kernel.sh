#!/usr/bin/env bash
# Build the series with PREEMPT_RT (config/kernel.config + config/rt.config)
# in build/rt-linux, a worktree of build/linux at the same commit, for
# `make test-rt`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RT=$BUILD/rt-linux
worktree_configure "$RT" "$TOP/config/kernel.config" "$TOP/config/rt.config"
for opt in CONFIG_PREEMPT_RT=y CONFIG_IO_URING_BPF=y CONFIG_RUST=y CONFIG_KASAN=y; do
	grep -qxF "$opt" "$RT/.config" || die "the PREEMPT_RT kernel lacks $opt"
done
echo "rt: building the PREEMPT_RT kernel (make -j$JOBS)"
TREE=$RT kmake -j"$JOBS" 2> >(grep -v 'KSYM_NAME_LEN\|^Symbol .* too long for kallsyms' >&2)
