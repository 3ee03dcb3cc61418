# Build, boot and test the io_uring cBPF filter series.
#
#   make test    set up, build, boot in QEMU, run every test, summarise
#   make run     boot the patched kernel and show filters at work
#   make stress  the fork stress tests at full count
#   make test-rt make test on a PREEMPT_RT build of the series
#   make hardening  make stress, make test-faults and make fuzz in turn
#
# See README.md for the rest.

SHELL := /bin/bash
S := scripts

.PHONY: all setup tree kernel headers selftests host-tests test stress test-rt run bench export sparse \
	series check-series checkpatch rustfmtcheck clippy clean distclean help \
	test-faults fuzz hardening try

all: test

help:
	@sed -n '/^# /,/^$$/p' Makefile

setup:
	@$(S)/setup.sh

tree: setup
	@$(S)/tree.sh

kernel: tree
	@$(S)/kernel.sh

# Exported uapi headers and the io_uring kselftests, built on the host.
selftests: kernel
	@$(S)/selftests.sh

host-tests: tree
	@$(S)/host-tests.sh

test: selftests
	@$(S)/test.sh

# The fork stress tests at their full counts (make test runs them bounded).
stress: selftests
	@$(S)/test.sh --stress

# Fault injection (fail-nth) over the full range of bpf_filter_faults.
test-faults: selftests
	@$(S)/test.sh --faults

# The differential fuzzer over eight seeds, each four times make test's run.
fuzz: selftests
	@$(S)/test.sh --fuzz

# The long runs, each with its own summary line; fails if any failed.
hardening: selftests
	@rc=0; for t in --stress --faults --fuzz; do $(S)/test.sh $$t || rc=1; done; exit $$rc

# One test program in a guest: make try T=path/to/test.c [ARGS="..."]
try: selftests
	@$(S)/try.sh $(T) $(ARGS)

# make test on a PREEMPT_RT build of the series (build/rt-linux).
test-rt: selftests
	@$(S)/rt-kernel.sh
	@$(S)/test.sh --rt

run: selftests
	@$(S)/run.sh

# Instructions per request with 0..8 filters (a kernel without debugging).
bench: selftests
	@$(S)/bench.sh

export:
	@$(S)/export.sh

series:
	@$(S)/series.sh

checkpatch: tree
	@$(S)/checkpatch.sh

# Every patch builds on its own; the series builds with IO_URING_BPF=n.
check-series: kernel
	@$(S)/check-series.sh

# The tree's Rust (kernel rustfmt rules) and the policy tool's.
rustfmtcheck: tree
	@source $(S)/lib.sh && kmake rustfmtcheck
	@source $(S)/lib.sh && cd policy && cargo fmt --check

# sparse over io_uring/, kernel/fork.c and net/core/filter.c: nothing new.
sparse: kernel
	@$(S)/sparse.sh

clippy: kernel
	@source $(S)/lib.sh && kmake CLIPPY=1 -j$$JOBS
	@source $(S)/lib.sh && cd policy && cargo clippy --locked --quiet --all-targets -- -D warnings

clean:
	rm -rf build/out

distclean:
	@[ ! -d build/linux/.git ] || $(S)/export.sh --check
	rm -rf build
