#!/usr/bin/env bash
# Write the commits of the tree back into patches/ (git format-patch with
# a cover letter from series/cover-letter.txt and --base). An unchanged
# tree exports byte-identical files.
#   --check   only report whether the tree holds unexported work
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no tree at $TREE"
root=$(base_commit)

if [ "${1:-}" = --check ]; then
	[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
		die "$TREE has uncommitted changes"
	[ "$(tree_hash)" = "$(series_hash "$TOP/patches")" ] ||
		die "$TREE holds work that is not in patches/: make export"
	exit 0
fi

if [ -n "$(git -C "$TREE" status --porcelain --untracked-files=no)" ]; then
	echo "export: warning: uncommitted changes in $TREE are not exported" >&2
fi
n=$(git -C "$TREE" rev-list --count "$root..HEAD")
[ "$n" -gt 0 ] || die "no commits on top of the base"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
format_series "$tmp"

cover=$(ls "$tmp"/0000-cover-letter.patch)
subject=$(head -n 1 "$TOP/series/cover-letter.txt")
date=$(git -C "$TREE" log -1 --format='%aD' HEAD)
python3 - "$cover" "$TOP/series/cover-letter.txt" "$subject" "$date" <<'PY'
import sys
path, blurb_path, subject, date = sys.argv[1:]
text = open(path).read()
blurb = open(blurb_path).read().split("\n", 1)[1].strip("\n")
text = text.replace("*** SUBJECT HERE ***", subject)
text = text.replace("*** BLURB HERE ***", blurb)
lines = text.split("\n")
for i, l in enumerate(lines):
    if l.startswith("Date: "):
        lines[i] = "Date: " + date
        break
open(path, "w").write("\n".join(lines))
PY

rm -f "$TOP"/patches/*.patch
mkdir -p "$TOP/patches"
cp "$tmp"/*.patch "$TOP/patches/"
series_hash "$TOP/patches" >"$SYNC_STAMP"
echo "export: $n patches and a cover letter in patches/"
