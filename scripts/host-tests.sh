#!/usr/bin/env bash
# Tests of the series' pure Rust logic that run on the host: each
# tests/host/*.rs is a rustc --test harness around a module of the tree.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

shopt -s nullglob
mkdir -p "$BUILD/host"
for t in "$TOP"/tests/host/*.rs; do
	name=$(basename "$t" .rs)
	echo "== $name"
	if ! /usr/bin/rustc --edition 2021 --test -o "$BUILD/host/$name" "$t"; then
		echo "FAILED: $name"
		continue
	fi
	"$BUILD/host/$name" || true
done

# The policy tool (policy/): its cargo tests, oracle and compiler included.
echo "== policy"
if ! (cd "$TOP/policy" && cargo test --locked --quiet 2>&1); then
	echo "FAILED: policy"
fi
