#!/usr/bin/env bash
# sparse (make C=2) over the C the series touches: io_uring/, kernel/fork.c,
# net/core/filter.c and fs/proc/array.c, in build/linux and in
# build/base-linux, a worktree of the base with the same configuration.
# Prints both counts and fails on any warning the base does not have
# (compared without line numbers).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v sparse >/dev/null || die "sparse is missing: make setup"
[ -f "$TREE/.config" ] || die "the tree is not configured: make kernel"
BASE=$BUILD/base-linux
root=$(base_commit)
if [ ! -d "$BASE" ]; then
	git -C "$TREE" worktree add --quiet --detach "$BASE" "$root"
fi
if ! cmp -s "$TREE/.config" "$BASE/.config.series"; then
	cp "$TREE/.config" "$BASE/.config.series"
	cp "$TREE/.config" "$BASE/.config"
	TREE=$BASE kmake olddefconfig >/dev/null
fi

targets=(io_uring/ kernel/fork.o net/core/filter.o fs/proc/array.o)
# The warnings of tree $1, one a line, file and message without position.
# The Rust helpers (rust/helpers/, which the build of the targets checks
# too) are left out: every one of them, the base's included, is "not
# declared" to sparse, and the lock and unlock helpers are unbalanced by
# design.
warnings() {
	TREE=$1 kmake -j"$JOBS" C=2 "${targets[@]}" 2>&1 >/dev/null |
		sed -nE 's/^([^ :]+):[0-9]+:[0-9]+: (warning|error): /\1: \2: /p' |
		grep -v "^rust/helpers/\|'rust_helper_" | sort || true
}
echo "sparse: the base (build/base-linux)"
warnings "$BASE" >"$BUILD/sparse-base.txt"
echo "sparse: the series (build/linux)"
warnings "$TREE" >"$BUILD/sparse-series.txt"
new=$(comm -13 "$BUILD/sparse-base.txt" "$BUILD/sparse-series.txt")
echo "sparse: $(wc -l <"$BUILD/sparse-base.txt") warnings in the base," \
	"$(wc -l <"$BUILD/sparse-series.txt") with the series, $(printf '%s' "$new" | grep -c . || true) new"
if [ -n "$new" ]; then
	echo "$new"
	exit 1
fi
