//! Symbolic names accepted in policy files.

/// Address families.
pub const FAMILIES: &[(&str, u32)] = &[
    ("unspec", 0),
    ("unix", 1),
    ("local", 1),
    ("inet", 2),
    ("inet6", 10),
    ("netlink", 16),
    ("packet", 17),
    ("can", 29),
    ("tipc", 30),
    ("bluetooth", 31),
    ("alg", 38),
    ("vsock", 40),
    ("xdp", 44),
    ("mctp", 45),
];

/// Socket types (compared after masking SOCK_NONBLOCK / SOCK_CLOEXEC).
pub const SOCK_TYPES: &[(&str, u32)] =
    &[("stream", 1), ("dgram", 2), ("raw", 3), ("rdm", 4), ("seqpacket", 5), ("dccp", 6), ("packet", 10)];

/// SOCK_TYPE_MASK: the type proper, without SOCK_NONBLOCK / SOCK_CLOEXEC.
pub const SOCK_TYPE_MASK: u32 = 0xf;

/// IP protocols.
pub const PROTOCOLS: &[(&str, u32)] = &[
    ("default", 0),
    ("ip", 0),
    ("icmp", 1),
    ("tcp", 6),
    ("udp", 17),
    ("ipv6", 41),
    ("icmpv6", 58),
    ("sctp", 132),
    ("udplite", 136),
    ("mptcp", 262),
];

/// The kernel's `O_LARGEFILE` on this architecture. glibc (and so the
/// `libc` crate) defines `O_LARGEFILE` as 0 on 64-bit targets, but the
/// kernel has a real bit for it and sets it on every OPENAT/OPENAT2 request
/// (except with `O_PATH`) on 64-bit kernels, so filters see that bit.
pub const KERNEL_O_LARGEFILE: u64 = if cfg!(any(target_arch = "aarch64", target_arch = "arm")) {
    0o400000
} else if cfg!(any(target_arch = "powerpc", target_arch = "powerpc64")) {
    0o200000
} else if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
    0x2000
} else if cfg!(any(target_arch = "sparc", target_arch = "sparc64")) {
    0x40000
} else {
    0o100000
};

/// open(2) flags, with this architecture's values (the kernel's, where
/// the C library's differ: `O_LARGEFILE`).
pub const OPEN_FLAGS: &[(&str, u64)] = &[
    ("O_WRONLY", libc::O_WRONLY as u64),
    ("O_RDWR", libc::O_RDWR as u64),
    ("O_CREAT", libc::O_CREAT as u64),
    ("O_EXCL", libc::O_EXCL as u64),
    ("O_NOCTTY", libc::O_NOCTTY as u64),
    ("O_TRUNC", libc::O_TRUNC as u64),
    ("O_APPEND", libc::O_APPEND as u64),
    ("O_NONBLOCK", libc::O_NONBLOCK as u64),
    ("O_DSYNC", libc::O_DSYNC as u64),
    ("O_SYNC", libc::O_SYNC as u64),
    ("O_DIRECT", libc::O_DIRECT as u64),
    ("O_LARGEFILE", KERNEL_O_LARGEFILE),
    ("O_DIRECTORY", libc::O_DIRECTORY as u64),
    ("O_NOFOLLOW", libc::O_NOFOLLOW as u64),
    ("O_NOATIME", libc::O_NOATIME as u64),
    ("O_CLOEXEC", libc::O_CLOEXEC as u64),
    ("O_PATH", libc::O_PATH as u64),
    ("O_TMPFILE", libc::O_TMPFILE as u64),
];

/// File mode bits.
pub const MODE_BITS: &[(&str, u64)] = &[
    ("S_ISUID", 0o4000),
    ("S_ISGID", 0o2000),
    ("S_ISVTX", 0o1000),
    ("S_IRWXU", 0o700),
    ("S_IRUSR", 0o400),
    ("S_IWUSR", 0o200),
    ("S_IXUSR", 0o100),
    ("S_IRWXG", 0o070),
    ("S_IRGRP", 0o040),
    ("S_IWGRP", 0o020),
    ("S_IXGRP", 0o010),
    ("S_IRWXO", 0o007),
    ("S_IROTH", 0o004),
    ("S_IWOTH", 0o002),
    ("S_IXOTH", 0o001),
];

/// openat2 RESOLVE_* bits.
pub const RESOLVE_BITS: &[(&str, u64)] = &[
    ("RESOLVE_NO_XDEV", 0x01),
    ("RESOLVE_NO_MAGICLINKS", 0x02),
    ("RESOLVE_NO_SYMLINKS", 0x04),
    ("RESOLVE_BENEATH", 0x08),
    ("RESOLVE_IN_ROOT", 0x10),
    ("RESOLVE_CACHED", 0x20),
];

/// IOSQE_* flags.
pub const SQE_FLAGS: &[(&str, u64)] = &[
    ("IOSQE_FIXED_FILE", 1 << 0),
    ("IOSQE_IO_DRAIN", 1 << 1),
    ("IOSQE_IO_LINK", 1 << 2),
    ("IOSQE_IO_HARDLINK", 1 << 3),
    ("IOSQE_ASYNC", 1 << 4),
    ("IOSQE_BUFFER_SELECT", 1 << 5),
    ("IOSQE_CQE_SKIP_SUCCESS", 1 << 6),
];

/// Look a name up, ignoring case and an optional prefix such as `AF_`.
pub fn lookup<T: Copy>(table: &[(&str, T)], prefix: &str, name: &str) -> Option<T> {
    let up = name.to_ascii_uppercase();
    let pre = prefix.to_ascii_uppercase();
    table.iter().find_map(|(n, v)| {
        let nu = n.to_ascii_uppercase();
        let bare = nu.strip_prefix(&pre).unwrap_or(&nu);
        let given = up.strip_prefix(&pre).unwrap_or(&up);
        (bare == given).then_some(*v)
    })
}

/// Name of a value for comments (first match).
pub fn name_of<T: Copy + PartialEq>(table: &[(&'static str, T)], v: T) -> Option<&'static str> {
    table.iter().find(|(_, x)| *x == v).map(|(n, _)| *n)
}

/// Name a bit mask with the names of `table`: the name whose value is
/// exactly `mask`, else the names that cover it (widest first, each fully
/// inside what is left) joined with `|`, with any bits left over in hex.
/// `None` when no name applies to any of its bits.
pub fn mask_name(table: &[(&'static str, u64)], mask: u64) -> Option<String> {
    if mask == 0 {
        return None;
    }
    if let Some(n) = name_of(table, mask) {
        return Some(n.to_string());
    }
    let mut cands: Vec<(&str, u64)> = table.iter().copied().filter(|&(_, v)| v != 0 && v & mask == v).collect();
    cands.sort_by_key(|&(_, v)| std::cmp::Reverse(v.count_ones()));
    let mut left = mask;
    let mut parts = Vec::new();
    for (n, v) in cands {
        if v & left == v {
            parts.push(n.to_string());
            left &= !v;
        }
    }
    if parts.is_empty() {
        return None;
    }
    if left != 0 {
        parts.push(format!("{left:#x}"));
    }
    Some(parts.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_names() {
        assert_eq!(mask_name(OPEN_FLAGS, libc::O_CREAT as u64).as_deref(), Some("O_CREAT"));
        assert_eq!(mask_name(OPEN_FLAGS, libc::O_TMPFILE as u64).as_deref(), Some("O_TMPFILE"));
        assert_eq!(mask_name(OPEN_FLAGS, (libc::O_CREAT | libc::O_EXCL) as u64).as_deref(), Some("O_CREAT|O_EXCL"));
        // O_SYNC contains O_DSYNC: the wider name wins.
        let m = (libc::O_SYNC | libc::O_CREAT) as u64;
        assert_eq!(mask_name(OPEN_FLAGS, m).as_deref(), Some("O_SYNC|O_CREAT"));
        assert_eq!(mask_name(OPEN_FLAGS, (libc::O_CREAT as u64) | 1 << 40).as_deref(), Some("O_CREAT|0x10000000000"));
        assert_eq!(mask_name(OPEN_FLAGS, 1 << 40), None);
        assert_eq!(mask_name(MODE_BITS, 0o4000).as_deref(), Some("S_ISUID"));
        assert_eq!(mask_name(RESOLVE_BITS, 0x08).as_deref(), Some("RESOLVE_BENEATH"));
        assert_eq!(mask_name(SQE_FLAGS, 0x12).as_deref(), Some("IOSQE_IO_DRAIN|IOSQE_ASYNC"));
    }

    #[test]
    fn o_largefile_is_the_kernels_bit() {
        assert_ne!(KERNEL_O_LARGEFILE, 0);
        assert_eq!(lookup(OPEN_FLAGS, "O_", "largefile"), Some(KERNEL_O_LARGEFILE));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(KERNEL_O_LARGEFILE, 0o100000);
    }
}
