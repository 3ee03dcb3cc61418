#!/usr/bin/env bash
# The mail-ready series in build/series/, re-signed with the local git
# identity (git config user.name / user.email of the project repo), each
# patch addressed as scripts/get_maintainer.pl --no-git reads MAINTAINERS
# for it: To: its maintainers and reviewers, Cc: its lists; the cover
# letter to all of them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

name=$(git -C "$TOP" config user.name) || die "set git config user.name"
email=$(git -C "$TOP" config user.email) || die "set git config user.email"
[ -x "$TREE/scripts/get_maintainer.pl" ] || die "no tree at $TREE: make tree"
rm -rf "$BUILD/series"
mkdir -p "$BUILD/series"

# get_maintainer.pl for patch $1, $2... its options; one address a line,
# the series' own identity (the sender, once re-signed) left out.
addresses() {
	local p=$1
	shift
	(cd "$TREE" && perl scripts/get_maintainer.pl --no-git --no-git-fallback \
		--no-rolestats "$@" "$p") |
		grep -vF "$PROJECT_EMAIL" || true
}

# Prints header $1 with the addresses read from stdin, folded one a line.
header() {
	awk -v h="$1" 'NF { a[n++] = $0 }
		END { if (n) { printf "%s: %s", h, a[0]
			for (i = 1; i < n; i++) printf ",\n    %s", a[i]
			printf "\n" } }'
}

# Adds headers $2 and $3 (either may be empty) to patch file $1, before its
# Subject:, the last header format-patch writes.
add_headers() {
	python3 - "$@" <<'PY'
import sys
path, *headers = sys.argv[1:]
head, sep, body = open(path).read().partition("\n\n")
lines = head.split("\n")
i = next(i for i, l in enumerate(lines) if l.startswith("Subject: "))
lines[i:i] = [h for h in headers if h]
open(path, "w").write("\n".join(lines) + sep + body)
PY
}

# Re-signs patch $1 into $2.
resign() {
	sed -e "s/^From: $PROJECT_NAME <$PROJECT_EMAIL>\$/From: $name <$email>/" \
	    -e "s/^Signed-off-by: $PROJECT_NAME <$PROJECT_EMAIL>\$/Signed-off-by: $name <$email>/" \
	    "$1" >"$2"
}

all_to=$(mktemp) all_cc=$(mktemp)
trap 'rm -f "$all_to" "$all_cc"' EXIT
for p in "$TOP"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
	[ "$(basename "$p")" != 0000-cover-letter.patch ] || continue
	to=$(addresses "$p" --no-l)
	cc=$(addresses "$p" --no-m --no-r)
	echo "$to" >>"$all_to"
	echo "$cc" >>"$all_cc"
	out=$BUILD/series/$(basename "$p")
	resign "$p" "$out"
	add_headers "$out" "$(echo "$to" | header To)" "$(echo "$cc" | header Cc)"
done
out=$BUILD/series/0000-cover-letter.patch
resign "$TOP/patches/0000-cover-letter.patch" "$out"
add_headers "$out" "$(sort -u "$all_to" | header To)" "$(sort -u "$all_cc" | header Cc)"
echo "series: $(ls "$BUILD/series" | wc -l) files in build/series, signed by $name <$email>"
echo "send with: git send-email build/series/*.patch (To: and Cc: are in each patch)"
