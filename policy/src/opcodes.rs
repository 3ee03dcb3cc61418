//! IORING_OP_* opcodes (`enum io_uring_op`) through Linux 7.0: the 58 of
//! Linux 6.12, which this series' kernel has, and those added since. Which
//! of them the running kernel knows is probed at run time
//! ([`crate::sys::probe`]).

/// Opcode names, lower case without the `IORING_OP_` prefix, indexed by
/// their numeric value.
pub const OPCODE_NAMES: &[&str] = &[
    "nop",              // 0
    "readv",            // 1
    "writev",           // 2
    "fsync",            // 3
    "read_fixed",       // 4
    "write_fixed",      // 5
    "poll_add",         // 6
    "poll_remove",      // 7
    "sync_file_range",  // 8
    "sendmsg",          // 9
    "recvmsg",          // 10
    "timeout",          // 11
    "timeout_remove",   // 12
    "accept",           // 13
    "async_cancel",     // 14
    "link_timeout",     // 15
    "connect",          // 16
    "fallocate",        // 17
    "openat",           // 18
    "close",            // 19
    "files_update",     // 20
    "statx",            // 21
    "read",             // 22
    "write",            // 23
    "fadvise",          // 24
    "madvise",          // 25
    "send",             // 26
    "recv",             // 27
    "openat2",          // 28
    "epoll_ctl",        // 29
    "splice",           // 30
    "provide_buffers",  // 31
    "remove_buffers",   // 32
    "tee",              // 33
    "shutdown",         // 34
    "renameat",         // 35
    "unlinkat",         // 36
    "mkdirat",          // 37
    "symlinkat",        // 38
    "linkat",           // 39
    "msg_ring",         // 40
    "fsetxattr",        // 41
    "setxattr",         // 42
    "fgetxattr",        // 43
    "getxattr",         // 44
    "socket",           // 45
    "uring_cmd",        // 46
    "send_zc",          // 47
    "sendmsg_zc",       // 48
    "read_multishot",   // 49
    "waitid",           // 50
    "futex_wait",       // 51
    "futex_wake",       // 52
    "futex_waitv",      // 53
    "fixed_fd_install", // 54
    "ftruncate",        // 55
    "bind",             // 56
    "listen",           // 57
    // Linux 6.15
    "recv_zc",      // 58
    "epoll_wait",   // 59
    "readv_fixed",  // 60
    "writev_fixed", // 61
    // Linux 6.16
    "pipe", // 62
    // Linux 6.19
    "nop128",       // 63
    "uring_cmd128", // 64
];

/// `io_uring_register(2)` opcodes of Linux 6.12 with this series, lower
/// case without the `IORING_` prefix (31..36 are unassigned).
pub const REGISTER_OPS: &[(&str, u8)] = &[
    ("register_buffers", 0),
    ("unregister_buffers", 1),
    ("register_files", 2),
    ("unregister_files", 3),
    ("register_eventfd", 4),
    ("unregister_eventfd", 5),
    ("register_files_update", 6),
    ("register_eventfd_async", 7),
    ("register_probe", 8),
    ("register_personality", 9),
    ("unregister_personality", 10),
    ("register_restrictions", 11),
    ("register_enable_rings", 12),
    ("register_files2", 13),
    ("register_files_update2", 14),
    ("register_buffers2", 15),
    ("register_buffers_update", 16),
    ("register_iowq_aff", 17),
    ("unregister_iowq_aff", 18),
    ("register_iowq_max_workers", 19),
    ("register_ring_fds", 20),
    ("unregister_ring_fds", 21),
    ("register_pbuf_ring", 22),
    ("unregister_pbuf_ring", 23),
    ("register_sync_cancel", 24),
    ("register_file_alloc_range", 25),
    ("register_pbuf_status", 26),
    ("register_napi", 27),
    ("unregister_napi", 28),
    ("register_clock", 29),
    ("register_clone_buffers", 30),
    ("register_bpf_filter", 37),
];

/// `IORING_REGISTER_LAST` with this series.
pub const IORING_REGISTER_LAST: u32 = 38;

/// Look a register opcode up (`"register_buffers"`,
/// `"IORING_REGISTER_BUFFERS"`, any case).
pub fn register_op_by_name(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    let short = lower.strip_prefix("ioring_").unwrap_or(&lower);
    REGISTER_OPS.iter().find(|(n, _)| *n == short).map(|&(_, v)| v)
}

/// Name of a register opcode (`"register_buffers"`).
pub fn register_op_name(op: u8) -> Option<&'static str> {
    REGISTER_OPS.iter().find(|&&(_, v)| v == op).map(|&(n, _)| n)
}

/// `IORING_OP_LAST` of the newest kernel the tool knows (Linux 7.0).
pub const IORING_OP_LAST: u32 = OPCODE_NAMES.len() as u32;

/// `IORING_OP_LAST` of Linux 6.12, the series' base.
pub const IORING_OP_LAST_6_12: u32 = 58;

pub const IORING_OP_NOP: u8 = 0;
pub const IORING_OP_CONNECT: u8 = 16;
pub const IORING_OP_OPENAT: u8 = 18;
pub const IORING_OP_OPENAT2: u8 = 28;
pub const IORING_OP_SOCKET: u8 = 45;

const _: () = {
    assert!(IORING_OP_LAST == 65);
};

/// Look an opcode up by name (`"read"`, `"IORING_OP_READ"`, any case) or
/// by number (`"60"`, any opcode 0..=255: one newer than the tool is
/// named by its number).
pub fn opcode_by_name(name: &str) -> Option<u8> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse().ok();
    }
    let lower = name.to_ascii_lowercase();
    let short = lower.strip_prefix("ioring_op_").unwrap_or(&lower);
    OPCODE_NAMES.iter().position(|n| *n == short).map(|i| i as u8)
}

/// An opcode for messages: `IORING_OP_READ (22)`, or `opcode 200` for one
/// the tool has no name for.
pub fn opcode_label(op: u8) -> String {
    match opcode_name(op) {
        Some(n) => format!("IORING_OP_{} ({op})", n.to_ascii_uppercase()),
        None => format!("opcode {op}"),
    }
}

/// Name of an opcode (`"read"`), or `None` past `IORING_OP_LAST`.
pub fn opcode_name(op: u8) -> Option<&'static str> {
    OPCODE_NAMES.get(op as usize).copied()
}

/// Opcodes whose kernel name is not their `IORING_OP_` name in upper case
/// (`io_cold_defs[].name` in the kernel's `io_uring/opdef.c`).
const KERNEL_NAME_EXCEPTIONS: &[(u8, &str)] = &[(29, "EPOLL")];

/// The kernel's name for an opcode, as `io_uring_get_opcode()` gives it
/// and io_uring's tracepoints print it (`"READ"`, `"OPENAT"`; EPOLL_CTL
/// is `"EPOLL"`), or `None` past `IORING_OP_LAST` (the kernel prints
/// `"INVALID"` there).
pub fn kernel_opcode_name(op: u8) -> Option<String> {
    if let Some(&(_, n)) = KERNEL_NAME_EXCEPTIONS.iter().find(|&&(o, _)| o == op) {
        return Some(n.to_string());
    }
    opcode_name(op).map(str::to_ascii_uppercase)
}

/// The opcode the kernel calls `name` ([`kernel_opcode_name`]): exact,
/// upper case. The `IORING_OP_` name in upper case is accepted for the
/// exceptions too (`"EPOLL_CTL"`), should a kernel print that.
pub fn opcode_by_kernel_name(name: &str) -> Option<u8> {
    if let Some(&(op, _)) = KERNEL_NAME_EXCEPTIONS.iter().find(|&&(_, n)| n == name) {
        return Some(op);
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    OPCODE_NAMES.iter().position(|n| *n == lower).map(|i| i as u8)
}

/// Size of the opcode specific data the kernel provides (`K` in "The
/// context" of `Documentation/userspace-api/io_uring_bpf_filter.rst`).
pub fn pdu_size(op: u8) -> u8 {
    match op {
        IORING_OP_SOCKET => 12,
        IORING_OP_OPENAT | IORING_OP_OPENAT2 | IORING_OP_CONNECT => 24,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_values() {
        assert_eq!(opcode_by_name("connect"), Some(IORING_OP_CONNECT));
        assert_eq!(opcode_by_name("IORING_OP_OPENAT"), Some(IORING_OP_OPENAT));
        assert_eq!(opcode_by_name("openat2"), Some(IORING_OP_OPENAT2));
        assert_eq!(opcode_by_name("socket"), Some(IORING_OP_SOCKET));
        assert_eq!(opcode_by_name("listen"), Some(57));
        assert_eq!(opcode_by_name("last"), None);
        assert_eq!(opcode_by_name("recv_zc"), Some(58));
        assert_eq!(opcode_by_name("IORING_OP_PIPE"), Some(62));
        assert_eq!(opcode_by_name("uring_cmd128"), Some(64));
        assert_eq!(opcode_by_name("60"), Some(60));
        assert_eq!(opcode_by_name("255"), Some(255));
        assert_eq!(opcode_by_name("256"), None);
        assert_eq!(opcode_by_name("-1"), None);
        assert_eq!(opcode_label(60), "IORING_OP_READV_FIXED (60)");
        assert_eq!(opcode_label(200), "opcode 200");
        assert_eq!(opcode_name(22), Some("read"));
        assert_eq!(register_op_by_name("IORING_REGISTER_BUFFERS"), Some(0));
        assert_eq!(register_op_by_name("unregister_napi"), Some(28));
        assert_eq!(register_op_by_name("register_bpf_filter"), Some(37));
        assert_eq!(register_op_by_name("register_last"), None);
        assert_eq!(register_op_name(11), Some("register_restrictions"));
    }

    #[test]
    fn kernel_names() {
        assert_eq!(kernel_opcode_name(0).as_deref(), Some("NOP"));
        assert_eq!(kernel_opcode_name(22).as_deref(), Some("READ"));
        assert_eq!(kernel_opcode_name(29).as_deref(), Some("EPOLL"));
        assert_eq!(kernel_opcode_name(200), None);
        assert_eq!(opcode_by_kernel_name("OPENAT"), Some(IORING_OP_OPENAT));
        assert_eq!(opcode_by_kernel_name("EPOLL"), Some(29));
        assert_eq!(opcode_by_kernel_name("EPOLL_CTL"), Some(29));
        assert_eq!(opcode_by_kernel_name("URING_CMD128"), Some(64));
        assert_eq!(opcode_by_kernel_name("INVALID"), None);
        assert_eq!(opcode_by_kernel_name("openat"), None);
        assert_eq!(opcode_by_kernel_name("22"), None);
        assert_eq!(opcode_by_kernel_name(""), None);
        for op in 0..IORING_OP_LAST as u8 {
            assert_eq!(opcode_by_kernel_name(&kernel_opcode_name(op).unwrap()), Some(op));
        }
    }

    /// The names the kernel prints (`io_cold_defs[]` in the series'
    /// `io_uring/opdef.c`, in the tree of [`kernel_header`]) are those of
    /// [`kernel_opcode_name`], for every opcode of the kernel.
    #[test]
    fn kernel_names_match_opdef() {
        let tree = std::env::var("IOU_LINUX_TREE")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../build/linux").to_string());
        let path = format!("{tree}/io_uring/opdef.c");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}: set IOU_LINUX_TREE"));
        let start = text.find("io_cold_defs[] = {").expect("io_cold_defs in opdef.c");
        let body = &text[start..];
        let body = &body[..body.find("\n};").expect("io_cold_defs ends")];
        let mut seen = 0;
        for entry in body.split("[IORING_OP_").skip(1) {
            let (op, rest) = entry.split_once(']').expect("[IORING_OP_X]");
            let name = rest.split_once(".name").and_then(|(_, r)| r.split('"').nth(1)).expect(".name = \"...\"");
            let num = opcode_by_name(op).unwrap_or_else(|| panic!("IORING_OP_{op}"));
            assert_eq!(kernel_opcode_name(num).as_deref(), Some(name), "IORING_OP_{op}");
            assert_eq!(opcode_by_kernel_name(name), Some(num), "{name}");
            seen += 1;
        }
        assert_eq!(seen, IORING_OP_LAST_6_12);
    }

    /// The series' `include/uapi/linux/io_uring.h`: in the kernel tree
    /// beside the crate (`make tree` builds `build/linux`), or under the
    /// tree `IOU_LINUX_TREE` names. A missing header fails the test: the
    /// tables below must be checked against the kernel's.
    fn kernel_header() -> String {
        let tree = std::env::var("IOU_LINUX_TREE")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../build/linux").to_string());
        let path = format!("{tree}/include/uapi/linux/io_uring.h");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{path}: {e}: run `make tree` first, or set IOU_LINUX_TREE to a kernel tree with the series")
        })
    }

    /// The body of `enum NAME { ... }` in the header.
    fn kernel_enum(text: &str, name: &str) -> String {
        let head = format!("enum {name} {{");
        let start = text.find(&head).unwrap_or_else(|| panic!("no `{head}` in the kernel header"));
        let body = &text[start..];
        body[..body.find("};").expect("the enum ends")].to_string()
    }

    /// Compare with the kernel's register enum.
    #[test]
    fn register_ops_match_kernel_header() {
        let text = kernel_header();
        let body = kernel_enum(&text, "io_uring_register_op");
        let mut seen = 0;
        for line in body.lines() {
            let Some((name, value)) = line.trim().trim_end_matches(',').split_once('=') else { continue };
            let name = name.trim().to_ascii_lowercase();
            let Ok(v) = value.trim().parse::<u8>() else { continue };
            let short = name.strip_prefix("ioring_").unwrap_or(&name);
            assert_eq!(register_op_by_name(short), Some(v), "{name}");
            seen += 1;
        }
        assert_eq!(seen, REGISTER_OPS.len());
        assert!(body.contains("IORING_REGISTER_LAST"));
    }

    /// Compare with the kernel's opcode enum.
    #[test]
    fn matches_kernel_header() {
        let text = kernel_header();
        let body = kernel_enum(&text, "io_uring_op");
        let names: Vec<String> = body
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter_map(|w| w.strip_prefix("IORING_OP_"))
            .filter(|w| *w != "LAST")
            .map(|w| w.to_ascii_lowercase())
            .collect();
        // The series' kernel is 6.12: its enum is the start of the table.
        assert_eq!(names.len(), IORING_OP_LAST_6_12 as usize);
        assert_eq!(names, OPCODE_NAMES[..names.len()]);
    }
}
