//! The policy model and its direct meaning.

use crate::abi::{
    IORING_RESTRICTION_REGISTER_OP, IORING_RESTRICTION_SQE_FLAGS_ALLOWED, IORING_RESTRICTION_SQE_FLAGS_REQUIRED,
    IORING_RESTRICTION_SQE_OP, IoUringRestriction, ctx_off,
};
use crate::bpf::Ctx;
use crate::names::SOCK_TYPE_MASK;
use crate::opcodes::{IORING_OP_CONNECT, IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_SOCKET};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub const AF_INET: u32 = 2;
pub const AF_INET6: u32 = 10;

/// What happens to requests of an opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

/// The rule for one opcode.
// A policy holds at most one rule per opcode: boxing the conditions would
// save nothing worth the indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    Allow,
    Deny,
    /// Allowed if one of the groups holds (OR); a group holds when every
    /// condition in it does (AND). Never empty.
    AllowIf(Vec<Conds>),
}

/// Conditions on a request. Every field that is set must hold (AND); a
/// list holds if one of its entries does (OR). Which fields apply to which
/// opcode is checked by the parser (see [`Field::applies_to`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conds {
    /// Any opcode: none of these IOSQE_* masks may be fully set.
    pub sqe_flags_clear: Vec<u8>,
    /// SOCKET, CONNECT: the address family is one of these.
    pub family: Option<Vec<u32>>,
    /// SOCKET: `type & SOCK_TYPE_MASK` is one of these.
    pub sock_type: Option<Vec<u32>>,
    /// SOCKET: the protocol is one of these.
    pub protocol: Option<Vec<u32>>,
    /// OPENAT, OPENAT2: none of these flag masks is fully set.
    pub flags_clear: Vec<u64>,
    /// OPENAT, OPENAT2: each of these flag masks is fully set.
    pub flags_set: Vec<u64>,
    pub mode_clear: Vec<u64>,
    pub mode_set: Vec<u64>,
    /// OPENAT2 only.
    pub resolve_clear: Vec<u64>,
    pub resolve_set: Vec<u64>,
    /// CONNECT: the port (host order; 0 for non-IP families) is in one of
    /// these inclusive ranges.
    pub port: Option<Vec<(u16, u16)>>,
    /// CONNECT: when `ipv4` or `ipv6` is given, the request must be AF_INET
    /// with an address in one of the `ipv4` prefixes, or AF_INET6 with an
    /// address in one of the `ipv6` prefixes. Addresses in host order.
    pub ipv4: Option<Vec<(u32, u8)>>,
    pub ipv6: Option<Vec<(u128, u8)>>,
}

/// Condition fields, for applicability checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    SqeFlags,
    Family,
    SockType,
    Protocol,
    OpenFlags,
    Mode,
    Resolve,
    Port,
    Addr,
}

impl Field {
    pub fn applies_to(self, op: u8) -> bool {
        match self {
            Field::SqeFlags => true,
            Field::Family => op == IORING_OP_SOCKET || op == IORING_OP_CONNECT,
            Field::SockType | Field::Protocol => op == IORING_OP_SOCKET,
            Field::OpenFlags | Field::Mode => op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2,
            Field::Resolve => op == IORING_OP_OPENAT2,
            Field::Port | Field::Addr => op == IORING_OP_CONNECT,
        }
    }
}

/// A whole policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// For opcodes without a rule.
    pub default: Action,
    /// Opcode -> rule.
    pub rules: BTreeMap<u8, Rule>,
    /// Classic task restrictions registered besides the filters (the
    /// `[restrict]` table). [`Policy::allows`] is the meaning of the filters
    /// alone; [`Restrict::allows_sqe`] that of the restrictions.
    pub restrict: Option<Restrict>,
}

/// Classic io_uring restrictions (`Documentation/userspace-api/io_uring_bpf_filter.rst`,
/// "Restricting a task and its children"; as IORING_REGISTER_RESTRICTIONS
/// on a ring): once registered, only the listed SQE opcodes and register
/// opcodes are allowed, and SQE flags must lie in `sqe_flags_allowed |
/// sqe_flags_required` and include all of `sqe_flags_required`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restrict {
    pub sqe_ops: Vec<u8>,
    pub register_ops: Vec<u8>,
    pub sqe_flags_allowed: u8,
    pub sqe_flags_required: u8,
}

impl Restrict {
    /// The entries to register, in the kernel's layout. SQE flag masks are
    /// one entry each (the kernel keeps the last one of each kind).
    pub fn entries(&self) -> Vec<IoUringRestriction> {
        let e = |opcode, arg| IoUringRestriction { opcode, arg, ..Default::default() };
        let mut v: Vec<IoUringRestriction> = self.sqe_ops.iter().map(|&op| e(IORING_RESTRICTION_SQE_OP, op)).collect();
        v.extend(self.register_ops.iter().map(|&op| e(IORING_RESTRICTION_REGISTER_OP, op)));
        v.push(e(IORING_RESTRICTION_SQE_FLAGS_ALLOWED, self.sqe_flags_allowed));
        v.push(e(IORING_RESTRICTION_SQE_FLAGS_REQUIRED, self.sqe_flags_required));
        v
    }

    /// Does the kernel accept a request with this opcode and these IOSQE_*
    /// flags on a ring with these restrictions (else -EACCES)?
    pub fn allows_sqe(&self, op: u8, sqe_flags: u8) -> bool {
        let req = self.sqe_flags_required;
        self.sqe_ops.contains(&op) && sqe_flags & req == req && sqe_flags & !(self.sqe_flags_allowed | req) == 0
    }

    /// May io_uring_register(2) opcode `op` be used on such a ring? Only
    /// register-opcode entries restrict register opcodes (Linux 7.0 tracks
    /// the two kinds apart): with none, every one is allowed.
    pub fn allows_register(&self, op: u8) -> bool {
        self.register_ops.is_empty() || self.register_ops.contains(&op)
    }
}

/// A mask by its names, with its value: `O_CREAT (0x40)`.
fn named(table: &[(&'static str, u64)], m: u64) -> String {
    match crate::names::mask_name(table, m) {
        Some(n) => format!("{n} ({m:#x})"),
        None => format!("{m:#x}"),
    }
}

/// Do the inclusive ranges cover every port?
pub fn covers_all_ports(ranges: &[(u16, u16)]) -> bool {
    let mut r = ranges.to_vec();
    r.sort_unstable();
    let mut next = 0u32; // first port not yet covered
    for (lo, hi) in r {
        if lo as u32 > next {
            return false;
        }
        next = next.max(hi as u32 + 1);
    }
    next > u16::MAX as u32
}

/// Inclusive ranges sorted, overlapping and adjacent ones merged.
pub fn merge_ranges(ranges: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut r: Vec<(u16, u16)> = ranges.iter().copied().filter(|&(lo, hi)| lo <= hi).collect();
    r.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Prefixes of a `bits`-wide address space (host-order networks in the low
/// `bits` bits of a u128, host bits clear): those inside another dropped,
/// sibling pairs merged into their parent, until none is left to merge.
/// The result covers exactly the addresses the input covers.
pub fn merge_prefixes<T: Copy + Into<u128>>(list: &[(T, u8)], bits: u8) -> Vec<(u128, u8)> {
    let mask = |len: u8| -> u128 {
        if len == 0 {
            0
        } else {
            let all = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
            all & !all.checked_shr(len as u32).unwrap_or(0)
        }
    };
    let mut v: Vec<(u128, u8)> = list.iter().map(|&(n, l)| (n.into() & mask(l), l.min(bits))).collect();
    loop {
        v.sort_unstable_by_key(|&(n, l)| (l, n));
        v.dedup();
        // Drop prefixes inside a shorter one.
        let kept: Vec<(u128, u8)> =
            v.iter().copied().filter(|&(n, l)| !v.iter().any(|&(m, k)| k < l && n & mask(k) == m)).collect();
        // Merge a prefix with its sibling.
        let mut merged = false;
        let mut out: Vec<(u128, u8)> = Vec::new();
        let mut used = vec![false; kept.len()];
        for i in 0..kept.len() {
            if used[i] {
                continue;
            }
            let (n, l) = kept[i];
            if l > 0 {
                let bit = 1u128 << (bits - l);
                if let Some(j) = (i + 1..kept.len()).find(|&j| !used[j] && kept[j] == (n ^ bit, l)) {
                    used[j] = true;
                    out.push((n & !bit, l - 1));
                    merged = true;
                    continue;
                }
            }
            out.push((n, l));
        }
        let changed = merged || kept.len() != v.len();
        v = out;
        if !changed {
            break;
        }
    }
    v.sort_unstable();
    v
}

/// All bits of `mask` are set in `v`.
pub fn all_set(v: u64, mask: u64) -> bool {
    v & mask == mask
}

/// Prefix match on host-order integers of `bits` width.
pub fn prefix4_match(addr: u32, net: u32, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len as u32) };
    addr & mask == net & mask
}

pub fn prefix6_match(addr: u128, net: u128, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - len as u32) };
    addr & mask == net & mask
}

impl Conds {
    /// True when no condition is set.
    pub fn is_empty(&self) -> bool {
        *self == Conds::default()
    }

    /// The same conditions, tight: lists sorted without duplicates, port
    /// ranges merged, prefixes inside another dropped and sibling prefixes
    /// merged, `_clear` masks that contain another `_clear` mask dropped
    /// (the smaller one already forbids them), `_set` masks folded into
    /// one, socket types past `SOCK_TYPE_MASK` dropped (they can never
    /// match), and conditions that hold for every value removed. Its
    /// [`Conds::allows`] is that of `self` on every request.
    pub fn normalized(&self) -> Conds {
        fn sorted<T: Ord + Copy>(l: &[T]) -> Vec<T> {
            let mut v = l.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        }
        /// Keep the masks no other (distinct) mask is inside of.
        fn minimal<T: Copy + Ord + std::ops::BitAnd<Output = T> + PartialEq>(l: &[T]) -> Vec<T> {
            let v = sorted(l);
            v.iter().copied().filter(|&m| !v.iter().any(|&o| o != m && o & m == o)).collect()
        }
        fn union(l: &[u64]) -> Vec<u64> {
            let m = l.iter().fold(0, |a, b| a | b);
            if m == 0 { vec![] } else { vec![m] }
        }
        let mut c = Conds {
            sqe_flags_clear: minimal(&self.sqe_flags_clear),
            family: self.family.as_deref().map(sorted),
            sock_type: self
                .sock_type
                .as_ref()
                .map(|l| sorted(&l.iter().copied().filter(|&t| t <= SOCK_TYPE_MASK).collect::<Vec<_>>())),
            protocol: self.protocol.as_deref().map(sorted),
            flags_clear: minimal(&self.flags_clear),
            flags_set: union(&self.flags_set),
            mode_clear: minimal(&self.mode_clear),
            mode_set: union(&self.mode_set),
            resolve_clear: minimal(&self.resolve_clear),
            resolve_set: union(&self.resolve_set),
            port: self.port.as_deref().map(merge_ranges),
            ipv4: self
                .ipv4
                .as_deref()
                .map(|l| merge_prefixes(l, 32).into_iter().map(|(n, len)| (n as u32, len)).collect()),
            ipv6: self.ipv6.as_deref().map(|l| merge_prefixes(l, 128)),
        };
        if c.port.as_deref().is_some_and(covers_all_ports) {
            c.port = None;
        }
        if c.sock_type.as_ref().is_some_and(|l| l.len() == SOCK_TYPE_MASK as usize + 1) {
            c.sock_type = None;
        }
        // An empty address list beside a given one admits nothing itself.
        if c.ipv4.as_ref().is_some_and(|l| l.is_empty()) && c.ipv6.is_some() {
            c.ipv4 = None;
        }
        if c.ipv6.as_ref().is_some_and(|l| l.is_empty()) && c.ipv4.is_some() {
            c.ipv6 = None;
        }
        c
    }

    /// Why no request can satisfy the conditions, if none can: a list that
    /// admits nothing, or a bit mask both required and forbidden.
    pub fn contradiction(&self) -> Option<String> {
        let c = self.normalized();
        for (name, l) in [("family", &c.family), ("type", &c.sock_type), ("protocol", &c.protocol)] {
            if l.as_ref().is_some_and(|l| l.is_empty()) {
                return Some(format!("`{name}` admits no value"));
            }
        }
        if c.port.as_ref().is_some_and(|l| l.is_empty()) {
            return Some("`port` admits no port".into());
        }
        if c.sqe_flags_clear.contains(&0) {
            return Some("`sqe_flags_clear` has an empty mask, which is always set".into());
        }
        for (name, clear, set) in [
            ("flags", &c.flags_clear, &c.flags_set),
            ("mode", &c.mode_clear, &c.mode_set),
            ("resolve", &c.resolve_clear, &c.resolve_set),
        ] {
            let s = set.first().copied().unwrap_or(0);
            if let Some(m) = clear.iter().find(|&&m| m & s == m) {
                return Some(format!("`{name}_clear` forbids {m:#x}, which `{name}_set` requires"));
            }
        }
        let v4 = c.ipv4.as_ref().is_some_and(|l| !l.is_empty());
        let v6 = c.ipv6.as_ref().is_some_and(|l| !l.is_empty());
        if (c.ipv4.is_some() || c.ipv6.is_some()) && !v4 && !v6 {
            return Some("the address lists admit no address".into());
        }
        if (v4 || v6)
            && let Some(f) = &c.family
            && !f.iter().any(|&x| (x == AF_INET && v4) || (x == AF_INET6 && v6))
        {
            return Some("`family` lists no family the `ipv4`/`ipv6` lists admit".into());
        }
        None
    }

    /// Do the conditions hold for every request? (Each condition that is
    /// set holds for any value: a port list covering 0-65535, socket types
    /// covering all 16 `type & 0xf` values; address lists never do: they
    /// deny other families.)
    pub fn matches_everything(&self) -> bool {
        let ports = self.port.as_ref().is_none_or(|r| covers_all_ports(r));
        let types = self.sock_type.as_ref().is_none_or(|l| (0..=SOCK_TYPE_MASK).all(|t| l.contains(&t)));
        // Address lists always deny families other than AF_INET/AF_INET6.
        let addrs = self.ipv4.is_none() && self.ipv6.is_none();
        self.sqe_flags_clear.is_empty()
            && self.family.is_none()
            && self.protocol.is_none()
            && [
                &self.flags_clear,
                &self.flags_set,
                &self.mode_clear,
                &self.mode_set,
                &self.resolve_clear,
                &self.resolve_set,
            ]
            .iter()
            .all(|l| l.is_empty())
            && ports
            && types
            && addrs
    }

    /// Does every request these conditions allow meet `other` too, so that
    /// in an OR of groups `self` adds nothing beside `other`? Exact for
    /// conditions that can hold: the normalised conditions are compared
    /// one by one (a request can take any value in each), the family and
    /// address lists together. A group that can never hold is within any.
    pub fn within(&self, other: &Conds) -> bool {
        self.contradiction().is_some() || self.normalized().tight_within(&other.normalized())
    }

    /// [`Conds::within`] for normalised conditions of which `self` can
    /// hold.
    pub(crate) fn tight_within(&self, other: &Conds) -> bool {
        let (a, b) = (self, other);
        // A list allows what it lists; none allows every value.
        fn subset<T: PartialEq>(a: &Option<Vec<T>>, b: &Option<Vec<T>>) -> bool {
            match (a, b) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(a), Some(b)) => a.iter().all(|x| b.contains(x)),
            }
        }
        // The values with every bit of `set` and no `clear` mask: the
        // least of them with a mask of `b_clear` added must still hold
        // one of `a_clear`, or it is a value `a` allows and `b` not.
        fn masks(a_clear: &[u64], a_set: &[u64], b_clear: &[u64], b_set: &[u64]) -> bool {
            let set = a_set.iter().fold(0, |x, m| x | m);
            b_set.iter().all(|&m| all_set(set, m))
                && b_clear.iter().all(|&mb| a_clear.iter().any(|&ma| all_set(set | mb, ma)))
        }
        let ports = match (&a.port, &b.port) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a.iter().all(|&(lo, hi)| b.iter().any(|&(l, h)| l <= lo && hi <= h)),
        };
        let sqe = |c: &Conds| c.sqe_flags_clear.iter().map(|&m| m as u64).collect::<Vec<_>>();
        subset(&a.sock_type, &b.sock_type)
            && subset(&a.protocol, &b.protocol)
            && masks(&sqe(a), &[], &sqe(b), &[])
            && masks(&a.flags_clear, &a.flags_set, &b.flags_clear, &b.flags_set)
            && masks(&a.mode_clear, &a.mode_set, &b.mode_clear, &b.mode_set)
            && masks(&a.resolve_clear, &a.resolve_set, &b.resolve_clear, &b.resolve_set)
            && ports
            && a.addresses_within(b)
    }

    /// [`Conds::within`] for the family and address lists of normalised
    /// conditions: for each family `self` admits, the addresses it admits
    /// are admitted by `other`. Without a family list, AF_INET, AF_INET6
    /// and one family neither group lists stand for all.
    fn addresses_within(&self, other: &Conds) -> bool {
        /// The addresses a group admits for family `f` (`None`: a family
        /// neither group lists). A /0 admits every address of its family.
        enum Admits<'a> {
            Nothing,
            All,
            V4(&'a [(u32, u8)]),
            V6(&'a [(u128, u8)]),
        }
        fn admits(c: &Conds, f: Option<u32>) -> Admits<'_> {
            let listed = match (&c.family, f) {
                (None, _) => true,
                (Some(l), Some(f)) => l.contains(&f),
                (Some(_), None) => false,
            };
            match (listed, &c.ipv4, &c.ipv6, f) {
                (false, ..) => Admits::Nothing,
                (true, None, None, _) => Admits::All,
                (true, Some(l), _, Some(AF_INET)) if l.iter().any(|p| p.1 == 0) => Admits::All,
                (true, _, Some(l), Some(AF_INET6)) if l.iter().any(|p| p.1 == 0) => Admits::All,
                (true, Some(l), _, Some(AF_INET)) => Admits::V4(l),
                (true, _, Some(l), Some(AF_INET6)) => Admits::V6(l),
                _ => Admits::Nothing,
            }
        }
        /// Every prefix of `a` inside one of `b` (merged, so that no union
        /// of them covers a prefix that none covers alone).
        fn inside<T: Copy + Into<u128>>(a: &[(T, u8)], b: &[(T, u8)], bits: u32) -> bool {
            let net = |n: T, l: u8| if l == 0 { 0 } else { n.into() >> (bits - l as u32) };
            a.iter().all(|&(n, l)| b.iter().any(|&(m, k)| k <= l && net(n, k) == net(m, k)))
        }
        let families: Vec<Option<u32>> = match &self.family {
            Some(l) => l.iter().map(|&f| Some(f)).collect(),
            None => vec![Some(AF_INET), Some(AF_INET6), None],
        };
        families.into_iter().all(|f| match (admits(self, f), admits(other, f)) {
            (Admits::Nothing, _) | (_, Admits::All) => true,
            (Admits::V4(a), Admits::V4(b)) => inside(a, b, 32),
            (Admits::V6(a), Admits::V6(b)) => inside(a, b, 128),
            _ => false,
        })
    }

    /// Does the opcode data need to be present (pdu_size > 0)?
    pub fn reads_pdu(&self) -> bool {
        let mut c = self.clone();
        c.sqe_flags_clear.clear();
        !c.is_empty()
    }

    /// The first condition the request fails, described (`None`: every
    /// condition holds). Agrees with [`Conds::allows`].
    pub fn why_not(&self, ctx: &Ctx) -> Option<String> {
        let sqe = ctx.sqe_flags();
        if let Some(m) = self.sqe_flags_clear.iter().find(|&&m| all_set(sqe as u64, m as u64)) {
            return Some(format!(
                "sqe_flags_clear: {} is set (sqe_flags {sqe:#x})",
                named(crate::names::SQE_FLAGS, *m as u64)
            ));
        }
        let family = ctx.u32_at(ctx_off::SOCKET_FAMILY);
        let lists = [
            ("family", &self.family, family),
            ("type", &self.sock_type, ctx.u32_at(ctx_off::SOCKET_TYPE) & SOCK_TYPE_MASK),
            ("protocol", &self.protocol, ctx.u32_at(ctx_off::SOCKET_PROTOCOL)),
        ];
        for (name, l, v) in lists {
            if let Some(l) = l
                && !l.contains(&v)
            {
                return Some(format!("{name}: {v} is not listed"));
            }
        }
        for (name, v, clear, set, table) in [
            ("flags", ctx.u64_at(ctx_off::OPEN_FLAGS), &self.flags_clear, &self.flags_set, crate::names::OPEN_FLAGS),
            ("mode", ctx.u64_at(ctx_off::OPEN_MODE), &self.mode_clear, &self.mode_set, crate::names::MODE_BITS),
            (
                "resolve",
                ctx.u64_at(ctx_off::OPEN_RESOLVE),
                &self.resolve_clear,
                &self.resolve_set,
                crate::names::RESOLVE_BITS,
            ),
        ] {
            if let Some(&m) = clear.iter().find(|&&m| all_set(v, m)) {
                return Some(format!("{name}_clear: {} is set ({name} {v:#x})", named(table, m)));
            }
            if let Some(&m) = set.iter().find(|&&m| !all_set(v, m)) {
                return Some(format!("{name}_set: {} is not set ({name} {v:#x})", named(table, m)));
            }
        }
        if let Some(ranges) = &self.port {
            let p = ctx.connect_port();
            if !ranges.iter().any(|&(lo, hi)| lo <= p && p <= hi) {
                return Some(format!("port: {p} is in no listed range"));
            }
        }
        if (self.ipv4.is_some() || self.ipv6.is_some()) && !self.allows_addr(ctx) {
            let shown = ctx.connect_ip().map_or_else(|| format!("family {family}"), |ip| ip.to_string());
            return Some(format!("ipv4/ipv6: {shown} is in no listed prefix"));
        }
        None
    }

    fn allows_addr(&self, ctx: &Ctx) -> bool {
        let only = Conds { ipv4: self.ipv4.clone(), ipv6: self.ipv6.clone(), ..Conds::default() };
        only.allows(ctx)
    }

    /// The direct meaning: does a request with this context satisfy all
    /// conditions?
    pub fn allows(&self, ctx: &Ctx) -> bool {
        let sqe = ctx.sqe_flags() as u64;
        if self.sqe_flags_clear.iter().any(|&m| all_set(sqe, m as u64)) {
            return false;
        }
        let family = ctx.u32_at(ctx_off::SOCKET_FAMILY);
        if let Some(l) = &self.family
            && !l.contains(&family)
        {
            return false;
        }
        if let Some(l) = &self.sock_type
            && !l.contains(&(ctx.u32_at(ctx_off::SOCKET_TYPE) & SOCK_TYPE_MASK))
        {
            return false;
        }
        if let Some(l) = &self.protocol
            && !l.contains(&ctx.u32_at(ctx_off::SOCKET_PROTOCOL))
        {
            return false;
        }
        let flags = ctx.u64_at(ctx_off::OPEN_FLAGS);
        let mode = ctx.u64_at(ctx_off::OPEN_MODE);
        let resolve = ctx.u64_at(ctx_off::OPEN_RESOLVE);
        for (v, clear, set) in [
            (flags, &self.flags_clear, &self.flags_set),
            (mode, &self.mode_clear, &self.mode_set),
            (resolve, &self.resolve_clear, &self.resolve_set),
        ] {
            if clear.iter().any(|&m| all_set(v, m)) || !set.iter().all(|&m| all_set(v, m)) {
                return false;
            }
        }
        if let Some(ranges) = &self.port {
            let p = ctx.connect_port();
            if !ranges.iter().any(|&(lo, hi)| lo <= p && p <= hi) {
                return false;
            }
        }
        if self.ipv4.is_some() || self.ipv6.is_some() {
            // AF_INET in an `ipv4` prefix or AF_INET6 in an `ipv6` one.
            let listed = match ctx.connect_ip() {
                Some(IpAddr::V4(a)) => self.ipv4.iter().flatten().any(|&(net, len)| prefix4_match(a.into(), net, len)),
                Some(IpAddr::V6(a)) => self.ipv6.iter().flatten().any(|&(net, len)| prefix6_match(a.into(), net, len)),
                None => false,
            };
            if !listed {
                return false;
            }
        }
        true
    }
}

/// What decided a request, by [`Policy::decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// The rule that decided (`op.connect.allow_if[1]`, `default`, ...)
    /// and why.
    pub rule: String,
    pub why: String,
}

impl Policy {
    /// The meaning of the policy for one request, with the rule that
    /// decided it: the filters' verdict, then the classic restrictions'.
    /// `allowed` is [`Policy::allows`] and, with a `[restrict]` table,
    /// [`Restrict::allows_sqe`] of the same request.
    pub fn decide(&self, ctx: &Ctx) -> Verdict {
        let op = ctx.opcode();
        let name = crate::opcodes::opcode_name(op).map_or_else(|| op.to_string(), str::to_string);
        let v = |allowed, rule: String, why: &str| Verdict { allowed, rule, why: why.to_string() };
        let filters = match self.rules.get(&op) {
            None => v(
                self.default == Action::Allow,
                "default".into(),
                &format!(
                    "no rule for {name}: default = \"{}\"",
                    if self.default == Action::Allow { "allow" } else { "deny" }
                ),
            ),
            Some(Rule::Allow) => v(true, format!("op.{name}"), "action = \"allow\""),
            Some(Rule::Deny) => v(false, format!("op.{name}"), "action = \"deny\""),
            Some(Rule::AllowIf(g)) => match g.iter().position(|c| c.allows(ctx)) {
                Some(i) => {
                    let at = if g.len() > 1 { format!("[{i}]") } else { String::new() };
                    v(true, format!("op.{name}.allow_if{at}"), "every condition holds")
                }
                None => {
                    let why: Vec<String> = g
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let w = c.why_not(ctx).unwrap_or_default();
                            if g.len() > 1 { format!("allow_if[{i}]: {w}") } else { w }
                        })
                        .collect();
                    v(false, format!("op.{name}.allow_if"), &why.join("; "))
                }
            },
        };
        if let Some(r) = &self.restrict
            && filters.allowed
            && !r.allows_sqe(op, ctx.sqe_flags())
        {
            let why = if r.sqe_ops.contains(&op) {
                format!("sqe_flags {:#x} are not within the allowed/required flags", ctx.sqe_flags())
            } else {
                format!("sqe_ops does not list {name}")
            };
            return v(false, "restrict".into(), &why);
        }
        filters
    }

    /// Does the policy allow every request, so that installing it would
    /// change nothing (`default = "allow"`, no `[restrict]`, and every
    /// rule allows everything)?
    pub fn allows_everything(&self) -> bool {
        self.default == Action::Allow
            && self.restrict.is_none()
            && self.rules.values().all(|r| match r {
                Rule::Allow => true,
                Rule::Deny => false,
                Rule::AllowIf(g) => g.iter().any(Conds::matches_everything),
            })
    }

    /// The direct meaning of the policy for one request.
    pub fn allows(&self, ctx: &Ctx) -> bool {
        match self.rules.get(&ctx.opcode()) {
            None => self.default == Action::Allow,
            Some(Rule::Allow) => true,
            Some(Rule::Deny) => false,
            Some(Rule::AllowIf(g)) => g.iter().any(|c| c.allows(ctx)),
        }
    }
}
