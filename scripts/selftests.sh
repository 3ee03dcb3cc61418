#!/usr/bin/env bash
# Export the uapi headers and build the io_uring kselftests into
# build/kselftest (host compiler, the tree's headers).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kmake headers
rm -rf "$BUILD/kselftest"
make -s -C "$TREE/tools/testing/selftests" TARGETS=io_uring \
	KSFT_INSTALL_PATH="$BUILD/kselftest" INSTALL_PATH="$BUILD/kselftest" \
	install >/dev/null
echo "selftests: built into build/kselftest"
