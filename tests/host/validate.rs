// SPDX-License-Identifier: GPL-2.0

//! Host test harness for the io_uring filter program validator.
//!
//! Builds `io_uring/bpf_filter/validate.rs` outside the kernel, with a stand-in for the
//! kernel's `struct sock_filter`, so that the module's own tests run on the host:
//!
//! ```text
//! rustc --edition 2021 --test tests/host/validate.rs -o /tmp/v && /tmp/v
//! ```

/// Stand-in for the kernel's `struct sock_filter` (`include/uapi/linux/filter.h`).
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

#[path = "../../build/linux/io_uring/bpf_filter/validate.rs"]
mod validate;
