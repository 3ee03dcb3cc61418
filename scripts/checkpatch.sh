#!/usr/bin/env bash
# checkpatch.pl --strict on every patch of the series.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rc=0
for p in "$TOP"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
	[ "$(basename "$p")" = 0000-cover-letter.patch ] && continue
	if ! out=$(cd "$TREE" && perl scripts/checkpatch.pl --strict --quiet \
		--show-types \
		"$p"); then
		echo "== $(basename "$p")"
		echo "$out"
		rc=1
	fi
done
[ $rc -eq 0 ] && echo "checkpatch: every patch is clean"
exit $rc
