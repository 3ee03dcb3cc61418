#!/usr/bin/env bash
# Tests of the series' pure Rust logic that run on the host: each
# tests/host/*.rs is a rustc --test harness around a module of the tree.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

# Exits non-zero if any of them fails.
rc=0
mkdir -p "$BUILD/host"
# The uapi bindings the harnesses include, from the tree's exported uapi
# headers, as the kernel's rust/uapi has them.
kmake headers >/dev/null || die "host-tests: make headers failed"
printf '#include <linux/filter.h>\n#include <linux/io_uring/bpf_filter.h>\n' \
	>"$BUILD/host/uapi.h"
"$BINDGEN" --use-core --no-layout-tests --no-doc-comments \
		--allowlist-var 'BPF_.*' --allowlist-type io_uring_bpf_ctx \
		-o "$BUILD/host/uapi.rs" "$BUILD/host/uapi.h" -- \
		-isystem "$TREE/usr/include" ||
	die "host-tests: bindgen of the uapi headers failed"
for t in "$TOP"/tests/host/*.rs; do
	name=$(basename "$t" .rs)
	echo "== $name"
	if ! /usr/bin/rustc --edition 2021 --test -o "$BUILD/host/$name" "$t" ||
		! "$BUILD/host/$name"; then
		echo "FAILED: $name"
		rc=1
	fi
done

# The summariser's own tests: result directories that must make it fail.
echo "== summarize"
if ! python3 "$TOP/tests/summarize/test_summarize.py" 2>&1; then
	echo "FAILED: summarize"
	rc=1
fi

# The policy tool (policy/): its cargo tests, oracle and compiler included,
# then clippy with warnings as errors, on every target and on the library
# without the oracle feature (what a runtime embeds). Both report in the
# policy section: a failure is a "FAILED: name" line, a failed suite.
echo "== policy"
if ! (cd "$TOP/policy" && cargo test --locked --quiet 2>&1); then
	echo "FAILED: policy"
	rc=1
fi
if ! (cd "$TOP/policy" &&
	cargo clippy --locked --quiet --all-targets -- -D warnings 2>&1 &&
	cargo clippy --locked --quiet --lib --no-default-features -- -D warnings 2>&1); then
	echo "FAILED: policy-clippy"
	rc=1
fi
exit $rc
