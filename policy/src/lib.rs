//! User-space side of io_uring cBPF request filtering: the ABI, a cBPF
//! assembler, a reference validator/evaluator (the test oracle), a policy
//! language compiled to filters, registration through
//! io_uring_register(2), and the io_uring tracepoints read through tracefs
//! (a policy recorded from what a command submits, denials watched live).
//!
//! The ABI is described in the kernel's
//! `Documentation/userspace-api/io_uring_bpf_filter.rst` (patch 18 of the
//! series). The `oracle` feature (on by default) adds the machinery of the
//! guest test, `kcheck` and `uring`; a runtime that embeds the policy
//! compiler builds with `default-features = false`.

pub mod abi;
pub mod asm;
pub mod bpf;
pub mod compile;
#[cfg(feature = "oracle")]
pub mod fuzz;
#[cfg(feature = "oracle")]
pub mod kcheck;
pub mod names;
pub mod opcodes;
pub mod parse;
pub mod policy;
pub mod record;
pub mod sys;
pub mod trace;
pub mod tracefs;
#[cfg(feature = "oracle")]
pub mod uring;
