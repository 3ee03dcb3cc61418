#!/usr/bin/env bash
# Boot the patched kernel in QEMU and show filters denying and allowing
# real requests.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$BUILD/demo"
build_user "$TOP/demo/filter-demo" "$BUILD/demo/filter-demo"

(cd "$TOP/policy" && cargo build --locked --quiet --release)
sandbox=$TOP/policy/target/release/iou-sandbox

echo "run: booting $(make -s -C "$TREE" kernelversion) in QEMU"
cd "$TREE"
timeout --kill-after=30 600 "$VNG" "${vng_accel[@]}" --memory 1G --cpus 2 \
	-- sh -ec "uname -r; $BUILD/demo/filter-demo; echo;
		echo 'The same demo under iou-sandbox --policy demo/policy.toml (allow NOP only):';
		$sandbox --policy $TOP/demo/policy.toml -- $BUILD/demo/filter-demo" </dev/null
