#!/usr/bin/env bash
# The mail-ready series in build/series/, re-signed with the local git
# identity (git config user.name / user.email of the project repo).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

name=$(git -C "$TOP" config user.name) || die "set git config user.name"
email=$(git -C "$TOP" config user.email) || die "set git config user.email"
rm -rf "$BUILD/series"
mkdir -p "$BUILD/series"
for p in "$TOP"/patches/*.patch; do
	sed -e "s/^From: $PROJECT_NAME <$PROJECT_EMAIL>\$/From: $name <$email>/" \
	    -e "s/^Signed-off-by: $PROJECT_NAME <$PROJECT_EMAIL>\$/Signed-off-by: $name <$email>/" \
	    "$p" >"$BUILD/series/$(basename "$p")"
done
echo "series: $(ls "$BUILD/series" | wc -l) files in build/series, signed by $name <$email>"
echo "send with: git send-email --to io-uring@vger.kernel.org --cc rust-for-linux@vger.kernel.org build/series/*.patch"
