# Shared settings for the project scripts; sourced, not run.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/build
TREE=$BUILD/linux
BASE_TARBALL=${BASE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
# The identity every commit of the series carries; `make series` re-signs.
PROJECT_NAME="io_uring bpf filter series"
PROJECT_EMAIL="io-uring-bpf@example.org"
# Fixed dates keep the base commit, and so --base in the export, stable.
BASE_DATE="2025-01-01T00:00:00+0000"

die() { echo "error: $*" >&2; exit 1; }

# Commits of the tree since the base, as sorted patch-ids.
tree_patch_ids() {
	local root
	root=$(git -C "$TREE" rev-list --max-parents=0 HEAD | tail -n 1)
	git -C "$TREE" log --reverse -p "$root..HEAD" |
		git patch-id --stable | awk '{print $1}' | sort
}

repo_patch_ids() {
	cat "$TOP"/patches/[0-9]*.patch 2>/dev/null | grep -v '^$' >/dev/null || return 0
	cat "$TOP"/patches/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null |
		git patch-id --stable | awk '{print $1}' | sort
}

JOBS=${JOBS:-$(nproc)}
BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
export PATH=/usr/bin:$PATH
export LIBCLANG_PATH=/usr/lib/llvm-22/lib
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache-iouring-bpf}
export CCACHE_BASEDIR=$TREE

# make in the kernel tree with the project's toolchain.
kmake() {
	make -C "$TREE" -s LLVM=-22 CC="ccache clang-22" \
		RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc BINDGEN="$BINDGEN" "$@"
}
