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
	if [ "$(tree_patch_ids)" = "$(repo_patch_ids)" ]; then
		echo "tree: $TREE is up to date with patches/"
		exit 0
	fi
	exported=$(repo_patch_ids)
	unexported=$(comm -23 <(tree_patch_ids) <(echo "$exported") | grep -c . || true)
	if [ "$unexported" -ne 0 ]; then
		die "$TREE holds $unexported commit(s) not in patches/: 'make export' (or drop them) first"
	fi
	echo "tree: patches/ changed, re-applying the series"
	root=$(git -C "$TREE" rev-list --max-parents=0 HEAD | tail -n 1)
	git -C "$TREE" checkout --quiet -B series "$root"
	apply_series
	exit 0
fi

mkdir -p "$BUILD"
rm -rf "$TREE.tmp"
mkdir -p "$TREE.tmp"
echo "tree: unpacking $BASE_TARBALL"
tar -xJf "$BASE_TARBALL" -C "$TREE.tmp" --strip-components=1
# Debian appends a block to the top-level .gitignore that ignores
# everything; drop it or git sees no new files.
n=$(grep -n '^# Debian packaging' "$TREE.tmp/.gitignore" | cut -d: -f1 || true)
if [ -n "$n" ]; then
	head -n $((n - 3)) "$TREE.tmp/.gitignore" >"$TREE.tmp/.gitignore.new"
	mv "$TREE.tmp/.gitignore.new" "$TREE.tmp/.gitignore"
fi
mv "$TREE.tmp" "$TREE"

version=$(make -s -C "$TREE" kernelversion)
pkg=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
expected=$(cat "$TOP/base-version")
if [ "$pkg" != "$expected" ]; then
	echo "tree: warning: base is linux-source-6.12 $pkg, the series was made on $expected" >&2
fi

git -C "$TREE" init --quiet -b series
git -C "$TREE" config user.name "$PROJECT_NAME"
git -C "$TREE" config user.email "$PROJECT_EMAIL"
git -C "$TREE" add -A --force .
GIT_AUTHOR_DATE=$BASE_DATE GIT_COMMITTER_DATE=$BASE_DATE \
	git_id commit --quiet -m "Linux $version (Debian linux-source-6.12 $pkg)"
echo "tree: base Linux $version at $(git -C "$TREE" rev-parse --short HEAD)"
apply_series
