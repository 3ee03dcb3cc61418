#!/usr/bin/env bash
# Boot the patched kernel in QEMU and show filters denying and allowing
# real requests.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$BUILD/demo"
build_user "$TOP/demo/filter-demo" "$BUILD/demo/filter-demo"

(cd "$TOP/policy" && cargo build --locked --quiet --release)
sandbox=$TOP/policy/target/release/iou-sandbox

# The guest writes the demo's output to a file in a --rwdir directory
# (see scripts/guest-ports.sh for why not to its stdout), printed here.
out=$BUILD/demo/out
rm -rf "$out"
mkdir -p "$out"
echo "run: booting $(make -s -C "$TREE" kernelversion) in QEMU"
cd "$TREE"
rc=0
timeout --kill-after=30 600 "$VNG" "${vng_accel[@]}" --memory 1G --cpus 2 \
	--rwdir "$out" -- sh -ec ". '$TOP/scripts/guest-ports.sh'
		{ uname -r; $BUILD/demo/filter-demo; echo
		echo 'The same demo under iou-sandbox --policy demo/policy.toml (allow NOP only):'
		$sandbox --policy $TOP/demo/policy.toml -- $BUILD/demo/filter-demo
		} >$out/output.txt 2>&1" </dev/null >"$out/console.txt" 2>&1 || rc=$?
if [ -s "$out/output.txt" ]; then
	cat "$out/output.txt"
else
	echo "run: the guest wrote no output; its console:" >&2
	tail -n 40 "$out/console.txt" >&2
fi
[ "$rc" = 0 ] || die "the guest failed (vng's exit status $rc), see $out/console.txt"
