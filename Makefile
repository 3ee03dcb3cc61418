# Build, boot and test the io_uring cBPF filter series.
#
#   make test    set up, build, boot in QEMU, run every test, summarise
#   make run     boot the patched kernel and show filters at work
#   make stress  the fork stress tests at full count
#   make test-rt make test on a PREEMPT_RT build of the series
#
# See README.md for the rest.

SHELL := /bin/bash
S := scripts

.PHONY: all setup tree kernel headers selftests host-tests test stress test-rt run bench export sparse \
	series check-series checkpatch rustfmtcheck clippy clean distclean help

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
