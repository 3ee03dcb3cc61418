//! The user-space ABI of io_uring cBPF filtering as
//! `Documentation/userspace-api/io_uring_bpf_filter.rst` describes it
//! ("Registering a filter", "The context", "Restricting a task and its
//! children"), as `#[repr(C)]` types, with compile-time size and offset checks.

use core::mem::{offset_of, size_of};

/// `io_uring_register(2)` opcode that registers a cBPF filter.
pub const IORING_REGISTER_BPF_FILTER: u32 = 37;
/// `io_uring_register(2)` opcode for classic restrictions.
pub const IORING_REGISTER_RESTRICTIONS: u32 = 11;

/// `io_uring_bpf.cmd_type`.
pub const IO_URING_BPF_CMD_FILTER: u16 = 1;
/// Deny every opcode that has no filter yet in the set.
pub const IO_URING_BPF_FILTER_DENY_REST: u32 = 1;
/// pdu_size must match the kernel's size for the opcode exactly.
pub const IO_URING_BPF_FILTER_SZ_STRICT: u32 = 2;
/// Every flag bit the ABI defines.
pub const IO_URING_BPF_FILTER_FLAGS: u32 = IO_URING_BPF_FILTER_DENY_REST | IO_URING_BPF_FILTER_SZ_STRICT;

/// Maximum number of instructions in a program.
pub const BPF_MAXINSNS: usize = 4096;
/// Number of scratch memory words (`M[]`).
pub const BPF_MEMWORDS: usize = 16;

/// Classic restriction opcodes (`struct io_uring_restriction.opcode`).
pub const IORING_RESTRICTION_REGISTER_OP: u16 = 0;
pub const IORING_RESTRICTION_SQE_OP: u16 = 1;
pub const IORING_RESTRICTION_SQE_FLAGS_ALLOWED: u16 = 2;
pub const IORING_RESTRICTION_SQE_FLAGS_REQUIRED: u16 = 3;

/// `IOSQE_*` flags.
pub const IOSQE_FIXED_FILE: u8 = 1 << 0;
pub const IOSQE_IO_DRAIN: u8 = 1 << 1;
pub const IOSQE_IO_LINK: u8 = 1 << 2;
pub const IOSQE_IO_HARDLINK: u8 = 1 << 3;
pub const IOSQE_ASYNC: u8 = 1 << 4;
pub const IOSQE_BUFFER_SELECT: u8 = 1 << 5;
pub const IOSQE_CQE_SKIP_SUCCESS: u8 = 1 << 6;

/// `struct sock_filter`: one classic BPF instruction.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl SockFilter {
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        SockFilter { code, jt, jf, k }
    }
}

/// Offsets inside `struct io_uring_bpf_ctx`.
pub mod ctx_off {
    pub const USER_DATA: usize = 0;
    pub const OPCODE: usize = 8;
    pub const SQE_FLAGS: usize = 9;
    pub const PDU_SIZE: usize = 10;
    pub const PDU: usize = 16;
    /// IORING_OP_SOCKET
    pub const SOCKET_FAMILY: usize = 16;
    pub const SOCKET_TYPE: usize = 20;
    pub const SOCKET_PROTOCOL: usize = 24;
    /// IORING_OP_OPENAT / IORING_OP_OPENAT2 (all `__u64`)
    pub const OPEN_FLAGS: usize = 16;
    pub const OPEN_MODE: usize = 24;
    pub const OPEN_RESOLVE: usize = 32;
    /// IORING_OP_CONNECT
    pub const CONNECT_FAMILY: usize = 16;
    pub const CONNECT_PORT: usize = 20;
    pub const CONNECT_ADDR: usize = 24;
}

/// `struct io_uring_bpf_ctx`: what a filter reads (40 bytes).
///
/// The opcode specific union is kept as raw bytes; see [`ctx_off`] and the
/// accessors of [`crate::bpf::Ctx`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringBpfCtx {
    pub user_data: u64,
    pub opcode: u8,
    pub sqe_flags: u8,
    pub pdu_size: u8,
    pub pad: [u8; 5],
    pub pdu: [u8; 24],
}

/// `struct io_uring_bpf_filter` (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringBpfFilter {
    pub opcode: u32,
    pub flags: u32,
    pub filter_len: u32,
    pub pdu_size: u8,
    pub resv: [u8; 3],
    pub filter_ptr: u64,
    pub resv2: [u64; 5],
}

/// `struct io_uring_bpf` (72 bytes), the argument of
/// `IORING_REGISTER_BPF_FILTER`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringBpf {
    pub cmd_type: u16,
    pub cmd_flags: u16,
    pub resv: u32,
    pub filter: IoUringBpfFilter,
}

/// `struct io_uring_restriction` (16 bytes). `arg` is the union of
/// `register_op`, `sqe_op` and `sqe_flags`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringRestriction {
    pub opcode: u16,
    pub arg: u8,
    pub resv: u8,
    pub resv2: [u32; 3],
}

/// Header of `struct io_uring_task_restriction` (16 bytes, followed by
/// `nr_res` [`IoUringRestriction`] entries).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringTaskRestriction {
    pub flags: u16,
    pub nr_res: u16,
    pub resv: [u32; 3],
}

/// Size of the filter context; what `BPF_LEN` loads.
pub const CTX_SIZE: usize = size_of::<IoUringBpfCtx>();

// ---- compile-time ABI checks -------------------------------------------
const _: () = {
    assert!(size_of::<SockFilter>() == 8);
    assert!(offset_of!(SockFilter, code) == 0);
    assert!(offset_of!(SockFilter, jt) == 2);
    assert!(offset_of!(SockFilter, jf) == 3);
    assert!(offset_of!(SockFilter, k) == 4);

    assert!(size_of::<IoUringBpfCtx>() == 40);
    assert!(offset_of!(IoUringBpfCtx, user_data) == ctx_off::USER_DATA);
    assert!(offset_of!(IoUringBpfCtx, opcode) == ctx_off::OPCODE);
    assert!(offset_of!(IoUringBpfCtx, sqe_flags) == ctx_off::SQE_FLAGS);
    assert!(offset_of!(IoUringBpfCtx, pdu_size) == ctx_off::PDU_SIZE);
    assert!(offset_of!(IoUringBpfCtx, pad) == 11);
    assert!(offset_of!(IoUringBpfCtx, pdu) == ctx_off::PDU);

    assert!(size_of::<IoUringBpfFilter>() == 64);
    assert!(offset_of!(IoUringBpfFilter, opcode) == 0);
    assert!(offset_of!(IoUringBpfFilter, flags) == 4);
    assert!(offset_of!(IoUringBpfFilter, filter_len) == 8);
    assert!(offset_of!(IoUringBpfFilter, pdu_size) == 12);
    assert!(offset_of!(IoUringBpfFilter, resv) == 13);
    assert!(offset_of!(IoUringBpfFilter, filter_ptr) == 16);
    assert!(offset_of!(IoUringBpfFilter, resv2) == 24);

    assert!(size_of::<IoUringBpf>() == 72);
    assert!(offset_of!(IoUringBpf, cmd_type) == 0);
    assert!(offset_of!(IoUringBpf, cmd_flags) == 2);
    assert!(offset_of!(IoUringBpf, resv) == 4);
    assert!(offset_of!(IoUringBpf, filter) == 8);

    assert!(size_of::<IoUringRestriction>() == 16);
    assert!(offset_of!(IoUringRestriction, opcode) == 0);
    assert!(offset_of!(IoUringRestriction, arg) == 2);
    assert!(offset_of!(IoUringRestriction, resv) == 3);
    assert!(offset_of!(IoUringRestriction, resv2) == 4);

    assert!(size_of::<IoUringTaskRestriction>() == 16);
    assert!(offset_of!(IoUringTaskRestriction, flags) == 0);
    assert!(offset_of!(IoUringTaskRestriction, nr_res) == 2);
    assert!(offset_of!(IoUringTaskRestriction, resv) == 4);
};
