#!/usr/bin/env bash
# Unpack the base into a git tree under build/ and apply the series.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -f "$BASE_TARBALL" ] || die "$BASE_TARBALL is missing: install Debian's linux-source-6.12 (make setup)"

git_id() {
	git -C "$TREE" -c user.name="$PROJECT_NAME" -c user.email="$PROJECT_EMAIL" "$@"
}

apply_series() {
	shopt -s nullglob
	local p=() f
	for f in "$TOP"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
		[ "$(basename "$f")" = 0000-cover-letter.patch ] || p+=("$f")
	done
	[ ${#p[@]} -gt 0 ] || { echo "tree: no patches to apply"; return 0; }
	git_id am --quiet --keep-cr --committer-date-is-author-date "${p[@]}" ||
		die "the series does not apply (git -C $TREE am --abort to clean up)"
	series_hash "$TOP/patches" >"$SYNC_STAMP"
	echo "tree: applied ${#p[@]} patches"
}

if [ -d "$TREE/.git" ]; then
	# Refuse to clobber unexported work.
	if [ -d "$TREE/.git/rebase-apply" ] || [ -d "$TREE/.git/rebase-merge" ]; then
		die "$TREE has a rebase or am in progress: finish it first"
	fi
	if [ -n "$(git -C "$TREE" status --porcelain --untracked-files=no)" ]; then
		die "$TREE has uncommitted changes: commit and 'make export' first"
	fi
	have=$(tree_hash)
	want=$(series_hash "$TOP/patches")
	if [ "$have" = "$want" ]; then
		echo "$want" >"$SYNC_STAMP"
		echo "tree: $TREE is up to date with patches/"
		exit 0
	fi
	if [ "$have" != "$(cat "$SYNC_STAMP" 2>/dev/null)" ]; then
		die "$TREE holds work not in patches/ (new, reworded, reordered or dropped commits): 'make export' first"
	fi
	echo "tree: patches/ changed, re-applying the series"
	git -C "$TREE" checkout --quiet -B series "$(base_commit)"
	apply_series
	exit 0
fi

# A tree without .git is what an interrupted unpack left: no work in it.
[ ! -d "$TREE" ] || rm -rf "$TREE"
mkdir -p "$BUILD"
new=$TREE.tmp
rm -rf "$new"
mkdir -p "$new"
echo "tree: unpacking $BASE_TARBALL"
tar -xJf "$BASE_TARBALL" -C "$new" --strip-components=1
# Debian appends a block to the top-level .gitignore that ignores
# everything; drop it or git sees no new files.
n=$(grep -n '^# Debian packaging' "$new/.gitignore" | cut -d: -f1 || true)
if [ -n "$n" ]; then
	head -n $((n - 3)) "$new/.gitignore" >"$new/.gitignore.new"
	mv "$new/.gitignore.new" "$new/.gitignore"
fi

version=$(make -s -C "$new" kernelversion)
pkg=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
expected=$(cat "$TOP/base-version")
if [ "$pkg" != "$expected" ] || [ "$version" != "${expected%%-*}" ]; then
	echo "tree: warning: base is Linux $version (linux-source-6.12 $pkg), the series was made on $expected" >&2
fi

# The base commit is made before the tree takes its place, so that an
# interrupted run never leaves a tree that looks ready.
git -C "$new" init --quiet -b series
git -C "$new" config user.name "$PROJECT_NAME"
git -C "$new" config user.email "$PROJECT_EMAIL"
git -C "$new" add -A --force .
GIT_AUTHOR_DATE=$BASE_DATE GIT_COMMITTER_DATE=$BASE_DATE \
	git -C "$new" commit --quiet \
	-m "Linux $version (Debian linux-source-6.12 $pkg)"
mv "$new" "$TREE"
echo "tree: base Linux $version at $(git -C "$TREE" rev-parse --short HEAD)"
apply_series
