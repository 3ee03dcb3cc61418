#!/usr/bin/env bash
# Build every patch of the series on its own, then the whole series with
# CONFIG_IO_URING_BPF=n, in a scratch copy of the tree (build/check-linux)
# so that build/linux is left alone. Each patch but the last builds what
# the series touches (rust/, io_uring/, kernel/fork.o, net/core/filter.o,
# fs/proc/array.o, with everything they depend on); the last one and the
# IO_URING_BPF=n variant build the whole kernel. A failure names the patch.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no tree at $TREE: run 'make kernel'"
[ -f "$TREE/.config" ] || die "$TREE is not configured: run 'make kernel'"
CT=$BUILD/check-linux
if [ ! -d "$CT/.git" ]; then
	echo "check-series: copying $TREE to $CT"
	cp -a "$TREE" "$CT"
fi
head=$(git -C "$TREE" rev-parse HEAD)
base=$(base_commit)
git -C "$CT" fetch --quiet "$TREE" "$head"
git -C "$CT" reset --quiet --hard
cp "$TREE/.config" "$CT/.config"
export CCACHE_BASEDIR=$CT

build() {
	TREE=$CT kmake -j"$JOBS" olddefconfig >/dev/null
	TREE=$CT kmake -j"$JOBS" "$@" 2> >(grep -v "KSYM_NAME_LEN\|^Symbol .* too long for kallsyms" >&2)
}

fail=0
for c in $(git -C "$CT" rev-list --reverse "$base..$head"); do
	subject=$(git -C "$CT" log -1 --format=%s "$c")
	git -C "$CT" checkout --quiet --detach "$c"
	targets=(rust/ io_uring/ kernel/fork.o net/core/filter.o fs/proc/array.o)
	[ "$c" = "$head" ] && targets=()
	if build "${targets[@]}" >"$CT/.check.log" 2>&1; then
		echo "ok     $subject"
	else
		echo "FAILED $subject (log: $CT/.check.log)"
		fail=1
		break
	fi
done

if [ $fail -eq 0 ]; then
	(cd "$CT" && scripts/config --disable IO_URING_BPF)
	if build >"$CT/.check.log" 2>&1 &&
	   ! grep -q '^CONFIG_IO_URING_BPF=y' "$CT/.config"; then
		echo "ok     the series with CONFIG_IO_URING_BPF=n"
	else
		echo "FAILED the series with CONFIG_IO_URING_BPF=n (log: $CT/.check.log)"
		fail=1
	fi
	cp "$TREE/.config" "$CT/.config"
fi
exit $fail
