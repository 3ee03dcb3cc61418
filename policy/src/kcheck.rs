//! The model behind `iou-oracle-check`, the guest test that compares the
//! kernel's verdicts with the oracle: a deterministic generator of policies
//! and of real requests, what the kernel's filter context holds for each
//! request (a model of the opcodes' prep), and the meaning of a stack of
//! policies registered one after the other.
//!
//! Everything here is pure (no system calls), so the host's cargo tests
//! check that the oracle ([`FilterSet`]) and the policies' meaning agree on
//! exactly the requests the guest submits.

use crate::abi::{IOSQE_ASYNC, IOSQE_IO_DRAIN};
use crate::bpf::Ctx;
use crate::compile::{CompiledFilter, FilterSet};
use crate::names::KERNEL_O_LARGEFILE;
use crate::opcodes::{IORING_OP_CONNECT, IORING_OP_NOP, IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_SOCKET};
use crate::policy::{AF_INET, AF_INET6, Action, Conds, Policy, Rule};
use std::collections::BTreeMap;

pub const IORING_OP_READ: u8 = 22;
pub const IORING_OP_WRITE: u8 = 23;
pub const IORING_OP_CLOSE: u8 = 19;

pub const AF_UNIX: u32 = 1;
pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_RAW: u32 = 3;
pub const SOCK_SEQPACKET: u32 = 5;
pub const SOCK_NONBLOCK: u32 = libc::SOCK_NONBLOCK as u32;
pub const SOCK_CLOEXEC: u32 = libc::SOCK_CLOEXEC as u32;

/// SplitMix64: small, deterministic, good enough for test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    pub fn pick<T: Copy>(&mut self, s: &[T]) -> T {
        s[self.below(s.len() as u64) as usize]
    }
}

// ---- what the kernel's prep does to open flags and modes -----------------

const O_PATH_FLAGS: u64 = (libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_PATH | libc::O_CLOEXEC) as u64;
/// `VALID_OPEN_FLAGS` of include/linux/fcntl.h.
pub const VALID_OPEN_FLAGS: u64 = (libc::O_WRONLY
    | libc::O_RDWR
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_NOCTTY
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_SYNC
    | libc::O_DSYNC
    | libc::O_ASYNC
    | libc::O_DIRECT
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOATIME
    | libc::O_CLOEXEC
    | libc::O_PATH
    | libc::O_TMPFILE) as u64
    | KERNEL_O_LARGEFILE;
/// `O_CREAT | __O_TMPFILE`: flags with which a mode is kept.
const WILL_CREATE: u64 = (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u64;
const S_IALLUGO: u64 = 0o7777;

/// The open_how of an IORING_OP_OPENAT request: `build_open_how()` on the
/// SQE's 32-bit flags and the mode truncated to `umode_t`, then
/// O_LARGEFILE forced (64-bit kernels) unless O_PATH.
pub fn openat_how(sqe_flags: u32, sqe_mode: u32) -> (u64, u64) {
    let mut flags = sqe_flags as u64 & VALID_OPEN_FLAGS;
    let mut mode = (sqe_mode as u16) as u64 & S_IALLUGO;
    if flags & libc::O_PATH as u64 != 0 {
        flags &= O_PATH_FLAGS;
    }
    if flags & WILL_CREATE == 0 {
        mode = 0;
    }
    (largefile(flags), mode)
}

/// OPENAT2 copies `struct open_how` as given; only O_LARGEFILE is forced.
pub fn largefile(flags: u64) -> u64 {
    if flags & libc::O_PATH as u64 == 0 { flags | KERNEL_O_LARGEFILE } else { flags }
}

// ---- requests -------------------------------------------------------------

/// The drain state of a ring, for the flags filters see ("Programs" in
/// `Documentation/userspace-api/io_uring_bpf_filter.rst`): a request with
/// IOSQE_IO_DRAIN starts a drain, and while one is active
/// every request is forced async, the draining one included. The drain
/// ends when a request is queued with nothing in flight before it; a
/// request that fails at init (denied) leaves it active.
#[derive(Clone, Copy, Debug, Default)]
pub struct Drain {
    active: bool,
}

impl Drain {
    /// The context filters see for `r`, submitted next on this ring.
    pub fn ctx(&mut self, r: &Request, user_data: u64) -> Ctx {
        if r.sqe_flags & IOSQE_IO_DRAIN != 0 {
            self.active = true;
        }
        let mut flags = r.sqe_flags;
        if self.active || r.forced_async() {
            flags |= IOSQE_ASYNC;
        }
        let mut c = r.ctx(user_data);
        c.set_sqe_flags(flags);
        c
    }

    /// `r`'s outcome: `queued` if it got past init, `in_flight` if requests
    /// submitted before it had not completed.
    pub fn after(&mut self, queued: bool, in_flight: bool) {
        if queued && !in_flight {
            self.active = false;
        }
    }
}

/// Which path an open request names, relative to the test's directory fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenPath {
    /// "." (the directory itself).
    Dir,
    /// A file created before the test.
    Existing,
    /// A name used by no other request (it exists afterwards only if this
    /// request created it).
    New,
}

/// One real request the guest submits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Req {
    Nop,
    /// READ of 16 bytes from /dev/zero.
    Read,
    Socket {
        family: u32,
        ty: u32,
        protocol: u32,
    },
    /// OPENAT (mode and flags go through their 32-bit SQE fields) or
    /// OPENAT2 (a 24-byte `struct open_how`).
    Open {
        op: u8,
        flags: u64,
        mode: u64,
        resolve: u64,
        path: OpenPath,
    },
    /// CONNECT on a new stream socket of `sock_family` to the raw socket
    /// address bytes `addr` (its length is the address length).
    Connect {
        sock_family: u32,
        addr: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// IOSQE_* flags (only ones that keep one request = one CQE).
    pub sqe_flags: u8,
    pub req: Req,
}

impl Request {
    pub fn opcode(&self) -> u8 {
        match &self.req {
            Req::Nop => IORING_OP_NOP,
            Req::Read => IORING_OP_READ,
            Req::Socket { .. } => IORING_OP_SOCKET,
            Req::Open { op, .. } => *op,
            Req::Connect { .. } => IORING_OP_CONNECT,
        }
    }

    /// Whether io_uring forces this request async at prep, which its filters
    /// see as IOSQE_ASYNC ("Programs" in the rst): an open that creates or
    /// truncates.
    pub fn forced_async(&self) -> bool {
        const FORCE: u64 = (libc::O_TRUNC | libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u64;
        match &self.req {
            Req::Open { op, flags, mode, .. } if *op == IORING_OP_OPENAT => {
                openat_how(*flags as u32, *mode as u32).0 & FORCE != 0
            }
            Req::Open { flags, .. } => flags & FORCE != 0,
            _ => false,
        }
    }

    /// The filter context the kernel builds for this request ("The
    /// context" in the rst: values as prepared), with its submitted flags:
    /// see [`Drain::ctx`] for the flags filters see.
    pub fn ctx(&self, user_data: u64) -> Ctx {
        let mut c = match &self.req {
            Req::Nop | Req::Read => Ctx::new(self.opcode()),
            Req::Socket { family, ty, protocol } => Ctx::socket(*family, *ty, *protocol),
            Req::Open { op, flags, mode, resolve, .. } => {
                if *op == IORING_OP_OPENAT {
                    let (f, m) = openat_how(*flags as u32, *mode as u32);
                    Ctx::open(*op, f, m, 0)
                } else {
                    Ctx::open(*op, largefile(*flags), *mode, *resolve)
                }
            }
            Req::Connect { addr, .. } => connect_ctx(addr),
        };
        c.set_sqe_flags(self.sqe_flags).set_user_data(user_data);
        c
    }

    /// Short description for diagnostics.
    pub fn describe(&self) -> String {
        let f = if self.sqe_flags != 0 { format!(" sqe_flags {:#x}", self.sqe_flags) } else { String::new() };
        let body = match &self.req {
            Req::Nop => "NOP".to_string(),
            Req::Read => "READ /dev/zero".to_string(),
            Req::Socket { family, ty, protocol } => format!("SOCKET family {family} type {ty:#x} protocol {protocol}"),
            Req::Open { op, flags, mode, resolve, path } => format!(
                "{} {path:?} flags {flags:#x} mode {mode:#o}{}",
                if *op == IORING_OP_OPENAT { "OPENAT" } else { "OPENAT2" },
                if *op == IORING_OP_OPENAT2 { format!(" resolve {resolve:#x}") } else { String::new() }
            ),
            Req::Connect { sock_family, addr } => {
                format!("CONNECT (socket family {sock_family}) {}", describe_addr(addr))
            }
        };
        body + &f
    }
}

/// The CONNECT context for a raw socket address: only what its length
/// covers (family needs 2 bytes; AF_INET port and address 16, AF_INET6 24).
pub fn connect_ctx(addr: &[u8]) -> Ctx {
    if addr.len() < 2 {
        return Ctx::connect(0, 0, &[]);
    }
    let fam = u16::from_ne_bytes([addr[0], addr[1]]) as u32;
    let port = |a: &[u8]| u16::from_be_bytes([a[2], a[3]]);
    match fam {
        AF_INET if addr.len() >= 16 => Ctx::connect(fam, port(addr), &addr[4..8]),
        AF_INET6 if addr.len() >= 24 => Ctx::connect(fam, port(addr), &addr[8..24]),
        _ => Ctx::connect(fam, 0, &[]),
    }
}

fn describe_addr(addr: &[u8]) -> String {
    if addr.len() < 2 {
        return format!("len {}", addr.len());
    }
    let fam = u16::from_ne_bytes([addr[0], addr[1]]) as u32;
    let port = |a: &[u8]| u16::from_be_bytes([a[2], a[3]]);
    match fam {
        AF_INET if addr.len() >= 16 => {
            format!("{}:{} len {}", std::net::Ipv4Addr::new(addr[4], addr[5], addr[6], addr[7]), port(addr), addr.len())
        }
        AF_INET6 if addr.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&addr[8..24]);
            format!("[{}]:{} len {}", std::net::Ipv6Addr::from(a), port(addr), addr.len())
        }
        _ => format!("family {fam} len {}", addr.len()),
    }
}

/// `struct sockaddr_in`.
pub fn sockaddr_in(port: u16, addr: u32) -> Vec<u8> {
    let mut v = vec![0u8; 16];
    v[0..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
    v[2..4].copy_from_slice(&port.to_be_bytes());
    v[4..8].copy_from_slice(&addr.to_be_bytes());
    v
}

/// `struct sockaddr_in6`.
pub fn sockaddr_in6(port: u16, addr: u128) -> Vec<u8> {
    let mut v = vec![0u8; 28];
    v[0..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
    v[2..4].copy_from_slice(&port.to_be_bytes());
    v[8..24].copy_from_slice(&addr.to_be_bytes());
    v
}

/// `struct sockaddr_un` with a path (length covers the NUL).
pub fn sockaddr_un(path: &str) -> Vec<u8> {
    let mut v = (AF_UNIX as u16).to_ne_bytes().to_vec();
    v.extend_from_slice(path.as_bytes());
    v.push(0);
    v
}

// ---- stacks of policies ---------------------------------------------------

/// What a stack of policies means, registered oldest first on one ring
/// ("Denying the rest" and "Evaluation" in
/// `Documentation/userspace-api/io_uring_bpf_filter.rst`): every policy
/// with a filter for the opcode must allow the request; a policy with `default = "deny"` and no rule for it
/// denies it only if no older policy had a filter for the opcode (its
/// DENY_REST marks only opcodes that have no filter yet in the set).
pub fn stack_allows(stack: &[(Policy, Vec<CompiledFilter>)], ctx: &Ctx) -> bool {
    let op = ctx.opcode();
    let has = |f: &[CompiledFilter]| f.iter().any(|x| x.opcode == op);
    for (i, (p, f)) in stack.iter().enumerate() {
        if has(f) {
            if !p.allows(ctx) {
                return false;
            }
        } else if p.default == Action::Deny && !stack[..i].iter().any(|(_, g)| has(g)) {
            return false;
        }
    }
    true
}

/// The oracle for a stack: the filter set model with every filter added.
pub fn stack_set(stack: &[(Policy, Vec<CompiledFilter>)]) -> FilterSet {
    let mut s = FilterSet::new();
    for (_, f) in stack {
        s.add_all(f);
    }
    s
}

// ---- generators -----------------------------------------------------------

/// The opcodes the guest submits.
pub const OPS: [u8; 6] =
    [IORING_OP_NOP, IORING_OP_READ, IORING_OP_SOCKET, IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_CONNECT];

/// SQE flags that keep one request = one CQE.
const SQE_FLAG_CHOICES: [u8; 4] = [0, 0x10, 0x02, 0x12]; // -, ASYNC, IO_DRAIN, both

/// (family, type, protocol) that the kernel answers at once without
/// loading modules and that never fail with EACCES for root (no ICMP
/// datagram "ping" sockets: those answer EACCES outside ping_group_range).
const SOCKETS: [(u32, u32, u32); 18] = [
    (AF_UNIX, SOCK_STREAM, 0),
    (AF_UNIX, SOCK_DGRAM, 0),
    (AF_UNIX, SOCK_SEQPACKET, 0),
    (AF_UNIX, SOCK_RAW, 0),
    (AF_UNIX, SOCK_STREAM, 6),
    (AF_INET, SOCK_STREAM, 0),
    (AF_INET, SOCK_STREAM, 6),
    (AF_INET, SOCK_DGRAM, 0),
    (AF_INET, SOCK_DGRAM, 17),
    (AF_INET, SOCK_RAW, 1),
    (AF_INET, SOCK_RAW, 255),
    (AF_INET6, SOCK_STREAM, 6),
    (AF_INET6, SOCK_DGRAM, 17),
    (AF_INET6, SOCK_RAW, 58),
    (16, SOCK_RAW, 0),
    (17, SOCK_DGRAM, 0),
    (99, SOCK_STREAM, 0),
    (200, SOCK_DGRAM, 0),
];

fn open_flag_masks() -> Vec<u64> {
    [
        libc::O_CREAT,
        libc::O_EXCL,
        libc::O_TRUNC,
        libc::O_APPEND,
        libc::O_WRONLY,
        libc::O_RDWR,
        libc::O_NONBLOCK,
        libc::O_DIRECTORY,
        libc::O_NOFOLLOW,
        libc::O_CLOEXEC,
        libc::O_PATH,
        libc::O_TMPFILE,
        libc::O_SYNC,
        libc::O_DSYNC,
        libc::O_NOATIME,
        libc::O_CREAT | libc::O_EXCL,
    ]
    .iter()
    .map(|&f| f as u64)
    .chain([KERNEL_O_LARGEFILE, 1 << 40])
    .collect()
}

const MODE_MASKS: [u64; 8] = [0o4000, 0o2000, 0o1000, 0o002, 0o020, 0o700, 0o100, 0o10000];
const MODES: [u64; 8] = [0, 0o644, 0o600, 0o4755, 0o2755, 0o1777, 0o777, 0o10644];
const RESOLVE_MASKS: [u64; 7] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40];
const PORTS: [u16; 9] = [0, 22, 80, 443, 1024, 8000, 8080, 65534, 65535];
const V4_PREFIXES: [(u32, u8); 7] = [
    (0x7f00_0000, 8),
    (0x0a00_0000, 8),
    (0x0a01_0000, 16),
    (0xc0a8_0100, 24),
    (0, 0),
    (0x7f00_0001, 32),
    (0xac10_0000, 12),
];
const V6_PREFIXES: [(u128, u8); 6] = [
    (1, 128),
    (0xfd00u128 << 112, 8),
    (0x2001_0db8u128 << 96, 32),
    (0, 0),
    (0xffffu128 << 32, 96),
    (0xfe80u128 << 112, 10),
];

fn mask4(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len as u32) }
}
fn mask6(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - len as u32) }
}

/// 1..=max distinct-ish entries drawn by `f`.
fn some<T: PartialEq>(rng: &mut Rng, max: u64, mut f: impl FnMut(&mut Rng) -> T) -> Vec<T> {
    let n = 1 + rng.below(max);
    let mut v = Vec::new();
    for _ in 0..n {
        let x = f(rng);
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

fn gen_conds(rng: &mut Rng, op: u8) -> Conds {
    let mut c = Conds::default();
    let flags = open_flag_masks();
    // Pick one to three condition kinds that apply to the opcode.
    let kinds: &[u8] = match op {
        IORING_OP_SOCKET => &[0, 1, 2, 3],
        IORING_OP_OPENAT => &[0, 4, 5, 6, 7],
        IORING_OP_OPENAT2 => &[0, 4, 5, 6, 7, 8, 9],
        IORING_OP_CONNECT => &[0, 1, 10, 11, 12],
        _ => &[0],
    };
    let n = 1 + rng.below(3);
    for _ in 0..n {
        match rng.pick(kinds) {
            0 => c.sqe_flags_clear = some(rng, 2, |r| r.pick(&[0x10u8, 0x02, 0x12])),
            1 => {
                c.family = Some(some(rng, 3, |r| {
                    if r.chance(1, 10) {
                        r.next_u64() as u32
                    } else {
                        r.pick(&[AF_UNIX, AF_INET, AF_INET6, 16, 17, 99, 0])
                    }
                }))
            }
            2 => c.sock_type = Some(some(rng, 3, |r| r.pick(&[SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, 10]))),
            3 => c.protocol = Some(some(rng, 3, |r| r.pick(&[0u32, 1, 6, 17, 58, 255, 262]))),
            4 => c.flags_clear = some(rng, 3, |r| r.pick(&flags)),
            5 => c.flags_set = some(rng, 2, |r| r.pick(&flags)),
            6 => c.mode_clear = some(rng, 2, |r| r.pick(&MODE_MASKS)),
            7 => c.mode_set = some(rng, 2, |r| r.pick(&MODE_MASKS)),
            8 => c.resolve_clear = some(rng, 2, |r| r.pick(&RESOLVE_MASKS)),
            9 => c.resolve_set = some(rng, 2, |r| r.pick(&RESOLVE_MASKS)),
            10 => {
                c.port = Some(some(rng, 3, |r| {
                    let a = if r.chance(1, 5) { r.next_u64() as u16 } else { r.pick(&PORTS) };
                    let b = if r.chance(1, 2) { a } else { r.pick(&PORTS) };
                    (a.min(b), a.max(b))
                }))
            }
            11 => {
                c.ipv4 = Some(some(rng, 3, |r| {
                    let (net, len) =
                        if r.chance(1, 5) { (r.next_u64() as u32, r.below(33) as u8) } else { r.pick(&V4_PREFIXES) };
                    (net & mask4(len), len)
                }))
            }
            _ => {
                c.ipv6 = Some(some(rng, 3, |r| {
                    let (net, len) = if r.chance(1, 5) {
                        (((r.next_u64() as u128) << 64) | r.next_u64() as u128, r.below(129) as u8)
                    } else {
                        r.pick(&V6_PREFIXES)
                    };
                    (net & mask6(len), len)
                }))
            }
        }
    }
    c
}

/// A group with long lists: for CONNECT, many ports and prefixes of both
/// families, too long for direct jumps, so the compiler falls back to the
/// long-jump trampoline; for SOCKET, long family, type and protocol lists
/// (decision trees that still fit direct jumps).
pub fn gen_long_conds(rng: &mut Rng, op: u8) -> Conds {
    let mut c = Conds::default();
    if op == IORING_OP_SOCKET {
        let mut fams: Vec<u32> = vec![AF_UNIX, AF_INET, AF_INET6, 16, 17];
        fams.extend((0..50).map(|_| 100 + rng.below(1000) as u32));
        c.family = Some(fams);
        c.sock_type = Some(vec![SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, 4, 6]);
        let mut protos: Vec<u32> = vec![0, 6, 17, 58];
        protos.extend((0..56).map(|_| 300 + rng.below(10_000) as u32));
        c.protocol = Some(protos);
        return c;
    }
    // CONNECT: 40 port ranges, 60 IPv4 prefixes, 16 IPv6 prefixes.
    let mut ports = vec![(443, 443), (8000, 8080)];
    ports.extend((0..38).map(|_| {
        let lo = rng.below(60_000) as u16 + 1025;
        (lo, lo + rng.below(20) as u16)
    }));
    c.port = Some(ports);
    let mut v4: Vec<(u32, u8)> = vec![(0x7f00_0000, 8), (0x0a01_0000, 16)];
    v4.extend((0..58).map(|_| {
        let len = 16 + rng.below(17) as u8;
        ((rng.next_u64() as u32) & mask4(len), len)
    }));
    c.ipv4 = Some(v4);
    let mut v6: Vec<(u128, u8)> = vec![(1, 128), (0x2001_0db8u128 << 96, 32)];
    v6.extend((0..14).map(|_| {
        let len = 64 + rng.below(65) as u8;
        ((((rng.next_u64() as u128) << 64) | rng.next_u64() as u128) & mask6(len), len)
    }));
    c.ipv6 = Some(v6);
    c
}

/// A policy whose SOCKET and CONNECT rules are OR groups with one long
/// group each (see [`gen_long_conds`]): the guest's fixed case for the
/// trampoline and the decision trees.
pub fn long_policy(rng: &mut Rng) -> Policy {
    let mut rules = BTreeMap::new();
    for op in [IORING_OP_SOCKET, IORING_OP_CONNECT] {
        rules.insert(op, Rule::AllowIf(vec![gen_conds(rng, op), gen_long_conds(rng, op)]));
    }
    Policy { default: Action::Allow, rules, restrict: None }
}

/// A random policy over the opcodes the guest submits (and a few it does
/// not, which still change what DENY_REST covers).
pub fn gen_policy(rng: &mut Rng) -> Policy {
    let default = if rng.chance(1, 2) { Action::Allow } else { Action::Deny };
    let mut rules = BTreeMap::new();
    for op in OPS.iter().copied().chain([IORING_OP_WRITE, IORING_OP_CLOSE]) {
        let p = if OPS.contains(&op) { 45 } else { 15 };
        if !rng.chance(p, 100) {
            continue;
        }
        let r = rng.below(10);
        let rule = if r < 2 {
            Rule::Allow
        } else if r < 4 {
            Rule::Deny
        } else {
            // One group mostly, sometimes an OR of two or three; for
            // SOCKET and CONNECT sometimes a group too long for direct
            // jumps (the trampoline layout).
            let n = if rng.chance(1, 4) { 2 + rng.below(2) } else { 1 };
            let mut g: Vec<Conds> = (0..n).map(|_| gen_conds(rng, op)).collect();
            if (op == IORING_OP_SOCKET || op == IORING_OP_CONNECT) && rng.chance(1, 6) {
                g.push(gen_long_conds(rng, op));
            }
            Rule::AllowIf(g)
        };
        rules.insert(op, rule);
    }
    Policy { default, rules, restrict: None }
}

/// Values the policies mention, so requests hit both sides of conditions.
#[derive(Default)]
struct Hints {
    masks: Vec<u64>,
    modes: Vec<u64>,
    resolves: Vec<u64>,
    ports: Vec<u16>,
    v4: Vec<(u32, u8)>,
    v6: Vec<(u128, u8)>,
}

fn hints(policies: &[&Policy]) -> Hints {
    let mut h = Hints::default();
    for p in policies {
        for r in p.rules.values() {
            let Rule::AllowIf(groups) = r else { continue };
            for c in groups {
                h.masks.extend(c.flags_clear.iter().chain(&c.flags_set));
                h.modes.extend(c.mode_clear.iter().chain(&c.mode_set));
                h.resolves.extend(c.resolve_clear.iter().chain(&c.resolve_set));
                for &(lo, hi) in c.port.iter().flatten() {
                    h.ports.extend([lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]);
                }
                h.v4.extend(c.ipv4.iter().flatten());
                h.v6.extend(c.ipv6.iter().flatten());
            }
        }
    }
    h
}

fn gen_open(rng: &mut Rng, h: &Hints, op: u8) -> Req {
    let mut flags = rng.pick(&[0u64, 0, 1, 2]);
    let pool = open_flag_masks();
    for _ in 0..rng.below(4) {
        let m = if !h.masks.is_empty() && rng.chance(2, 3) { rng.pick(&h.masks) } else { rng.pick(&pool) };
        flags |= m;
    }
    if op == IORING_OP_OPENAT {
        flags &= u32::MAX as u64;
    }
    let mut mode = rng.pick(&MODES);
    if !h.modes.is_empty() && rng.chance(1, 2) {
        mode |= rng.pick(&h.modes);
    }
    if op == IORING_OP_OPENAT && rng.chance(1, 10) {
        mode |= 0x1_0000; // past umode_t: the kernel truncates it
    }
    let mut resolve = 0;
    if op == IORING_OP_OPENAT2 {
        for _ in 0..rng.below(3) {
            resolve |= if !h.resolves.is_empty() && rng.chance(2, 3) {
                rng.pick(&h.resolves)
            } else {
                rng.pick(&RESOLVE_MASKS)
            };
        }
    }
    let path = if flags & libc::O_DIRECTORY as u64 != 0 && rng.chance(2, 3) {
        OpenPath::Dir
    } else if rng.chance(1, 2) {
        OpenPath::New
    } else {
        OpenPath::Existing
    };
    Req::Open { op, flags, mode, resolve, path }
}

fn gen_connect(rng: &mut Rng, h: &Hints) -> Req {
    let port = if !h.ports.is_empty() && rng.chance(2, 3) { rng.pick(&h.ports) } else { rng.pick(&PORTS) };
    let r = rng.below(20);
    if r < 9 {
        let addr = if !h.v4.is_empty() && rng.chance(2, 3) {
            let (net, len) = rng.pick(&h.v4);
            let a = net | (rng.next_u64() as u32 & !mask4(len));
            if rng.chance(1, 4) { a ^ (1 << rng.below(32)) } else { a }
        } else {
            rng.pick(&[0x7f00_0001u32, 0x0a01_0203, 0xc0a8_0105, 0x7f01_0203, 0x0800_0808])
        };
        let mut sa = sockaddr_in(port, addr);
        if rng.chance(1, 10) {
            sa.truncate(rng.pick(&[2usize, 8, 15]));
        }
        let sock = if rng.chance(1, 8) { AF_INET6 } else { AF_INET };
        Req::Connect { sock_family: sock, addr: sa }
    } else if r < 16 {
        let addr = if !h.v6.is_empty() && rng.chance(2, 3) {
            let (net, len) = rng.pick(&h.v6);
            let rnd = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
            let a = net | (rnd & !mask6(len));
            if rng.chance(1, 4) { a ^ (1 << rng.below(128)) } else { a }
        } else {
            rng.pick(&[1u128, 0xffff_7f00_0001, (0xfd00u128 << 112) | 5, 0x2001_0db8u128 << 96])
        };
        let mut sa = sockaddr_in6(port, addr);
        if rng.chance(1, 10) {
            sa.truncate(rng.pick(&[20usize, 23, 24]));
        }
        Req::Connect { sock_family: AF_INET6, addr: sa }
    } else if r < 18 {
        Req::Connect { sock_family: AF_UNIX, addr: sockaddr_un("nonexistent-socket") }
    } else {
        // Odd addresses: too short for the family, or another family.
        let addr = match rng.below(4) {
            0 => vec![],
            1 => vec![2],
            2 => {
                let mut v = sockaddr_in(port, 0x7f00_0001);
                v[0..2].copy_from_slice(&17u16.to_ne_bytes());
                v
            }
            _ => {
                let mut v = sockaddr_in(port, 0x7f00_0001);
                v[0..2].copy_from_slice(&0u16.to_ne_bytes());
                v
            }
        };
        Req::Connect { sock_family: AF_INET, addr }
    }
}

/// `n` requests aimed at the opcodes and values of `policies`.
pub fn gen_requests(rng: &mut Rng, policies: &[&Policy], n: usize) -> Vec<Request> {
    let h = hints(policies);
    let ruled: Vec<u8> = policies.iter().flat_map(|p| p.rules.keys().copied()).filter(|op| OPS.contains(op)).collect();
    let mut out = Vec::new();
    for _ in 0..n {
        let op = if !ruled.is_empty() && rng.chance(3, 4) { rng.pick(&ruled) } else { rng.pick(&OPS) };
        let sqe_flags = if rng.chance(1, 3) { rng.pick(&SQE_FLAG_CHOICES) } else { 0 };
        let req = match op {
            IORING_OP_NOP => Req::Nop,
            IORING_OP_READ => Req::Read,
            IORING_OP_SOCKET => {
                let (family, ty, protocol) = rng.pick(&SOCKETS);
                let ty = ty | rng.pick(&[0, 0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC]);
                Req::Socket { family, ty, protocol }
            }
            IORING_OP_OPENAT | IORING_OP_OPENAT2 => gen_open(rng, &h, op),
            _ => gen_connect(rng, &h),
        };
        out.push(Request { sqe_flags, req });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;

    fn open(op: u8, flags: u64) -> Request {
        Request { sqe_flags: 0, req: Req::Open { op, flags, mode: 0o600, resolve: 0, path: OpenPath::New } }
    }

    #[test]
    fn opens_that_create_or_truncate_are_forced_async() {
        let creat = libc::O_CREAT as u64 | libc::O_WRONLY as u64;
        assert!(open(IORING_OP_OPENAT, creat).forced_async());
        assert!(open(IORING_OP_OPENAT2, libc::O_TRUNC as u64 | 1).forced_async());
        assert!(open(IORING_OP_OPENAT, libc::O_TMPFILE as u64 | 1).forced_async());
        assert!(!open(IORING_OP_OPENAT, libc::O_RDONLY as u64).forced_async());
        // OPENAT with O_PATH drops O_CREAT before prep looks; OPENAT2 keeps it.
        assert!(!open(IORING_OP_OPENAT, libc::O_PATH as u64 | creat).forced_async());
        assert!(open(IORING_OP_OPENAT2, libc::O_PATH as u64 | creat).forced_async());
        assert_eq!(Drain::default().ctx(&open(IORING_OP_OPENAT, creat), 1).sqe_flags(), IOSQE_ASYNC);
    }

    #[test]
    fn drain_forces_async_until_a_request_is_queued() {
        let nop = |f| Request { sqe_flags: f, req: Req::Nop };
        let mut d = Drain::default();
        assert_eq!(d.ctx(&nop(0), 1).sqe_flags(), 0);
        d.after(true, false);
        assert_eq!(d.ctx(&nop(IOSQE_IO_DRAIN), 2).sqe_flags(), IOSQE_IO_DRAIN | IOSQE_ASYNC);
        // denied at init: the drain stays
        d.after(false, false);
        assert_eq!(d.ctx(&nop(0), 3).sqe_flags(), IOSQE_ASYNC);
        // queued behind a request still in flight: the drain stays
        d.after(true, true);
        assert_eq!(d.ctx(&nop(0), 4).sqe_flags(), IOSQE_ASYNC);
        d.after(true, false);
        assert_eq!(d.ctx(&nop(0), 5).sqe_flags(), 0);
    }

    #[test]
    fn open_how_model() {
        let lf = KERNEL_O_LARGEFILE;
        let creat = libc::O_CREAT as u32;
        // mode kept only with O_CREAT / O_TMPFILE, truncated to 07777
        assert_eq!(openat_how(creat, 0o10644), (creat as u64 | lf, 0o644));
        assert_eq!(openat_how(0, 0o644), (lf, 0));
        // O_PATH keeps only O_PATH_FLAGS and gets no O_LARGEFILE
        let p = (libc::O_PATH | libc::O_CREAT | libc::O_CLOEXEC) as u32;
        assert_eq!(openat_how(p, 0o644), ((libc::O_PATH | libc::O_CLOEXEC) as u64, 0));
        // unknown bits are dropped
        assert_eq!(openat_how(1 << 30, 0).0, lf);
        assert_eq!(largefile(1 << 40), (1 << 40) | lf);
    }

    #[test]
    fn connect_ctx_covers_only_the_length() {
        let a = sockaddr_in(443, 0x0a01_0203);
        let c = connect_ctx(&a);
        assert_eq!(c, Ctx::connect(2, 443, &[10, 1, 2, 3]));
        assert_eq!(connect_ctx(&a[..15]), Ctx::connect(2, 0, &[]));
        assert_eq!(connect_ctx(&a[..1]), Ctx::connect(0, 0, &[]));
        let b = sockaddr_in6(80, 1);
        assert_eq!(connect_ctx(&b[..24]), Ctx::connect(10, 80, &1u128.to_be_bytes()));
        assert_eq!(connect_ctx(&b[..23]), Ctx::connect(10, 0, &[]));
        assert_eq!(connect_ctx(&sockaddr_un("x")), Ctx::connect(1, 0, &[]));
    }

    /// The guest's exact data: for the policies and stacks it generates,
    /// the oracle agrees with the meaning on every request it submits.
    #[test]
    fn generated_cases_agree_on_the_host() {
        let mut rng = Rng::new(0x10c0_ffee);
        let mut denied = 0;
        let mut total = 0;
        for i in 0..300 {
            let n = if i % 3 == 0 { 2 + rng.below(2) as usize } else { 1 };
            let stack: Vec<(Policy, Vec<CompiledFilter>)> = (0..n)
                .map(|_| {
                    let p = gen_policy(&mut rng);
                    let f = compile(&p).unwrap();
                    (p, f)
                })
                .collect();
            let set = stack_set(&stack);
            let ps: Vec<&Policy> = stack.iter().map(|(p, _)| p).collect();
            for (j, r) in gen_requests(&mut rng, &ps, 12).iter().enumerate() {
                let c = r.ctx(j as u64);
                let want = stack_allows(&stack, &c);
                assert_eq!(set.allows(&c), want, "{:?} {}", ps, r.describe());
                if n == 1 {
                    assert_eq!(stack[0].0.allows(&c), want);
                }
                denied += !want as usize;
                total += 1;
            }
        }
        // Both verdicts are well represented.
        assert!(denied > total / 5 && denied < total * 4 / 5, "{denied}/{total}");
    }

    /// The guest's fixed trampoline case: its CONNECT rule needs the
    /// trampoline (its SOCKET rule is long decision trees), and the oracle agrees with the meaning on the requests it makes.
    #[test]
    fn long_policy_needs_the_trampoline() {
        use crate::compile::{Layout, compile_rule_with};
        let mut rng = Rng::new(7);
        let p = long_policy(&mut rng);
        let connect = &p.rules[&IORING_OP_CONNECT];
        assert!(matches!(compile_rule_with(connect, Layout::Direct), Err(crate::asm::AsmError::JumpTooFar { .. })));
        let stack = vec![(p.clone(), compile(&p).unwrap())];
        let set = stack_set(&stack);
        let (mut allowed, mut denied) = (0, 0);
        for (j, r) in gen_requests(&mut rng, &[&p], 400).iter().enumerate() {
            let c = r.ctx(j as u64);
            assert_eq!(set.allows(&c), p.allows(&c), "{}", r.describe());
            if p.allows(&c) { allowed += 1 } else { denied += 1 }
        }
        assert!(allowed > 20 && denied > 20, "{allowed} allowed, {denied} denied");
    }

    /// The guest's policies include groups that need the trampoline layout.
    #[test]
    fn generated_policies_need_the_trampoline() {
        use crate::compile::{Layout, compile_rule_with};
        let mut rng = Rng::new(0x10c0_ffee);
        let mut long = 0;
        for _ in 0..300 {
            for rule in gen_policy(&mut rng).rules.values() {
                if matches!(compile_rule_with(rule, Layout::Direct), Err(crate::asm::AsmError::JumpTooFar { .. })) {
                    long += 1;
                    let p = compile_rule_with(rule, Layout::Trampoline).unwrap();
                    crate::bpf::validate(&p.insns).unwrap();
                }
            }
        }
        assert!(long >= 10, "only {long} rules need the trampoline");
    }

    #[test]
    fn stack_deny_rest_does_not_cover_older_filters() {
        let parse = |s: &str| crate::parse::parse_policy(s).unwrap();
        let a = parse("default = \"allow\"\nop.read = \"allow\"\n");
        let b = parse("default = \"deny\"\nop.nop = \"allow\"\n");
        let stack = vec![(a.clone(), compile(&a).unwrap()), (b.clone(), compile(&b).unwrap())];
        let read = Ctx::new(IORING_OP_READ);
        // b alone denies READ, but READ has a filter from a: no deny entry.
        assert!(!b.allows(&read));
        assert!(stack_allows(&stack, &read));
        assert!(stack_set(&stack).allows(&read));
        assert!(!stack_allows(&stack, &Ctx::new(IORING_OP_WRITE)));
    }
}
