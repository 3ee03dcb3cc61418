//! User-space side of io_uring cBPF request filtering: the ABI, a cBPF
//! assembler, a reference validator/evaluator (the test oracle), a policy
//! language compiled to filters, and registration through
//! io_uring_register(2).

pub mod abi;
pub mod asm;
pub mod bpf;
pub mod compile;
pub mod kcheck;
pub mod names;
pub mod opcodes;
pub mod parse;
pub mod policy;
pub mod sys;
pub mod uring;
