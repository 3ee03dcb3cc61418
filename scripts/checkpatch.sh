#!/usr/bin/env bash
# checkpatch.pl --strict on every patch of the series. Its FILE_PATH_CHANGES
# warning ("does MAINTAINERS need updating?", given for any patch that adds
# a file and leaves MAINTAINERS alone) is replaced by the check it stands
# for: every file the series adds is in a MAINTAINERS entry other than THE
# REST, as scripts/get_maintainer.pl reads them (the series' entry uses
# globs, so later patches have no line of their own to add).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rc=0
for p in "$TOP"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
	[ "$(basename "$p")" = 0000-cover-letter.patch ] && continue
	if ! out=$(cd "$TREE" && perl scripts/checkpatch.pl --strict --quiet \
		--show-types --ignore FILE_PATH_CHANGES \
		"$p"); then
		echo "== $(basename "$p")"
		echo "$out"
		rc=1
	fi
done
root=$(base_commit)
added=$(git -C "$TREE" diff --name-only --diff-filter=A "$root" HEAD)
for f in $added; do
	if ! (cd "$TREE" && perl scripts/get_maintainer.pl --no-git \
		--no-git-fallback -f "$f") |
		grep -E '\((maintainer|reviewer|supporter|open list|moderated list):' |
		grep -qv 'THE REST'; then
		echo "== MAINTAINERS: no entry covers $f"
		rc=1
	fi
done
[ $rc -eq 0 ] && echo "checkpatch: every patch is clean," \
	"every file it adds ($(echo "$added" | wc -w)) in MAINTAINERS"
exit $rc
