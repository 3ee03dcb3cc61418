# Shared settings for the project scripts; sourced, not run.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/build
TREE=$BUILD/linux
BASE_TARBALL=${BASE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
# The identity every commit of the series carries; `make series` re-signs.
PROJECT_NAME="io_uring bpf filter series"
PROJECT_EMAIL="io-uring-bpf@example.org"
# The revision of the series on the lists: [PATCH vN NN/MM], and the
# "Changes in vN" section of series/cover-letter.txt.
SERIES_VERSION=2
# Fixed dates keep the base commit, and so --base in the export, stable.
BASE_DATE="2025-01-01T00:00:00+0000"

die() { echo "error: $*" >&2; exit 1; }

# The first commit of the tree: the pristine base.
base_commit() {
	git -C "$TREE" rev-list --max-parents=0 HEAD | tail -n 1
}

# format-patch the tree's series into directory $1, with stable output: no
# commit hashes (a rebased or freshly applied tree has new ones), none of
# the user's git configuration, and blob hashes abbreviated to a fixed
# length (git's automatic length grows with the number of objects, so a
# fresh tree and a long-used one would write different index lines).
format_series() {
	local root
	root=$(base_commit)
	GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
		git -C "$TREE" -c user.name="$PROJECT_NAME" \
		-c user.email="$PROJECT_EMAIL" -c core.abbrev=12 \
		format-patch --quiet --cover-letter --base="$root" --abbrev=12 \
		--subject-prefix="PATCH v$SERIES_VERSION" \
		--no-signature --zero-commit --no-thread --no-signoff \
		-o "$1" "$root..HEAD"
}

# A hash of the patches in directory $1, cover letter left out.
series_hash() {
	local f
	for f in "$1"/[0-9][0-9][0-9][0-9]-*.patch; do
		[ -e "$f" ] || continue
		[ "$(basename "$f")" = 0000-cover-letter.patch ] || cat "$f"
	done | sha256sum | cut -d' ' -f1
}

# series_hash of what the tree would export now.
tree_hash() {
	local tmp h
	tmp=$(mktemp -d)
	format_series "$tmp"
	h=$(series_hash "$tmp")
	rm -rf "$tmp"
	echo "$h"
}

# Where tree.sh and export.sh record the series_hash of patches/ when the
# tree and patches/ last agreed: a tree whose export differs from it holds
# work not exported (new, reworded, reordered or dropped commits).
SYNC_STAMP=$TREE/.git/series-sync

JOBS=${JOBS:-$(nproc)}
BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
# virtme-ng's virtual environment (setup.sh; vng runs virtme-run from
# PATH, and its python3 is Debian's), then Debian's toolchain: rustc-web,
# cargo-web, rustfmt-web, clippy.
export PATH=$BUILD/venv/bin:/usr/bin:$PATH
export LIBCLANG_PATH=/usr/lib/llvm-22/lib
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache-iouring-bpf}
export CCACHE_BASEDIR=$TREE

# make in the kernel tree with the project's toolchain.
kmake() {
	make -C "$TREE" -s LLVM=-22 CC="ccache clang-22" \
		RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc BINDGEN="$BINDGEN" "$@"
}

# Check out the tree's HEAD, detached, in worktree $1 (added if missing),
# and configure it as tinyconfig plus the fragments that follow whenever
# they or the commit change: kernels built beside the tree's own with
# another configuration (bench.sh, rt-kernel.sh).
worktree_configure() {
	local wt=$1 head want stamp
	shift
	head=$(git -C "$TREE" rev-parse HEAD)
	if [ ! -d "$wt" ]; then
		git -C "$TREE" worktree add --quiet --detach "$wt" "$head"
	else
		git -C "$wt" checkout --quiet --detach "$head"
	fi
	stamp=$wt/.config-fragment.sha
	want=$( (cat "$@"; echo "$head") | sha256sum | cut -d' ' -f1)
	if [ ! -f "$wt/.config" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		TREE=$wt kmake tinyconfig >/dev/null
		(cd "$wt" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config "$@" >/dev/null)
		TREE=$wt kmake olddefconfig >/dev/null
		echo "$want" >"$stamp"
	fi
}

# virtme-ng, installed by setup.sh into a virtual environment.
VNG=$BUILD/venv/bin/vng

# vng's accelerator: TCG, since KVM guests hang on nested machines of
# this kind; VNG_KVM=1 uses KVM where it works.
vng_accel=(--disable-kvm)
if [ "${VNG_KVM:-0}" = 1 ]; then
	vng_accel=()
fi

# Build the user program $1.c into $2 against the tree's uapi headers.
build_user() {
	gcc -Wall -O2 -I"$TREE/tools/include" -isystem "$TREE/usr/include" \
		-o "$2" "$1.c"
}
