//! Policy -> cBPF filters, and a model of a kernel filter set (the oracle
//! for whole policies).

use crate::abi::{BPF_MEMWORDS, IO_URING_BPF_FILTER_DENY_REST, ctx_off};
use crate::asm::{Asm, AsmError, Cond, Label, Program, Target};
use crate::bpf::{self, BPF_AND, BPF_LSH, BPF_OR, BPF_RSH, Ctx, ValidateError};
use crate::names::{self, SOCK_TYPE_MASK};
use crate::opcodes::{self, IORING_OP_NOP};
use crate::policy::{AF_INET, AF_INET6, Action, Conds, Policy, Rule};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Value a filter returns to allow.
pub const RET_ALLOW: u32 = 1;
/// Value a filter returns to deny.
pub const RET_DENY: u32 = 0;

/// One filter to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledFilter {
    pub opcode: u8,
    /// IO_URING_BPF_FILTER_* flags.
    pub flags: u32,
    /// Opcode data size the filter expects (0 if it reads none).
    pub pdu_size: u8,
    pub program: Program,
}

impl CompiledFilter {
    /// Human readable listing for `--explain`.
    pub fn explain(&self) -> String {
        let name = opcodes::opcode_name(self.opcode).unwrap_or("?").to_ascii_uppercase();
        let mut flags = Vec::new();
        if self.flags & IO_URING_BPF_FILTER_DENY_REST != 0 {
            flags.push("DENY_REST");
        }
        let flags = if flags.is_empty() { "0".to_string() } else { flags.join("|") };
        format!(
            "filter for IORING_OP_{name} ({}), pdu_size {}, flags {flags}, {} instructions\n{}",
            self.opcode,
            self.pdu_size,
            self.program.insns.len(),
            self.program.listing()
        )
    }
}

/// Compilation failures (internal limits; the parser keeps user input
/// inside them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompileError {
    Asm { opcode: u8, err: AsmError },
    Invalid { opcode: u8, err: ValidateError },
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |op: &u8| opcodes::opcode_name(*op).unwrap_or("?");
        match self {
            CompileError::Asm { opcode, err } => {
                write!(f, "op.{}: cannot assemble filter: {err}", name(opcode))
            }
            CompileError::Invalid { opcode, err } => {
                write!(f, "op.{}: generated filter fails validation: {err}", name(opcode))
            }
        }
    }
}

impl std::error::Error for CompileError {}

/// Split a native-endian 64-bit field mask into (offset, 32-bit mask) words
/// as `LD W ABS` sees them, dropping zero words.
fn words64(off: usize, mask: u64) -> Vec<(u32, u32)> {
    let b = mask.to_ne_bytes();
    let lo = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let hi = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
    [(off as u32, lo), (off as u32 + 4, hi)].into_iter().filter(|(_, m)| *m != 0).collect()
}

/// The bits of a 64-bit field at `field` that the 32-bit word at `word`
/// with mask `m` tests (the first word holds the low half on little-endian
/// machines, the high half on big-endian ones).
fn word_bits(field: usize, word: u32, m: u32) -> u64 {
    let first = word as usize == field;
    if first == cfg!(target_endian = "little") { m as u64 } else { (m as u64) << 32 }
}

/// A mask for comments: its names and value (`O_CREAT (0x40)`), or just the
/// value when no name applies. Mode bits are shown in octal.
fn describe(table: &[(&'static str, u64)], mask: u64) -> String {
    let v = if table == names::MODE_BITS { format!("{mask:#o}") } else { format!("{mask:#x}") };
    match names::mask_name(table, mask) {
        Some(n) => format!("{n} ({v})"),
        None => v,
    }
}

/// A span of values (inclusive bounds) and where a value in it goes.
type Span = (u32, u32, Label);

/// Lists longer than this are searched with a balanced decision tree
/// (libseccomp's binary-tree optimisation) instead of a linear scan.
pub const TREE_MIN: usize = 5;

/// The scratch word [`Gen::load_host`] swaps bytes in: the last one, past
/// the group's cached context words.
const SWAP_SLOT: u32 = BPF_MEMWORDS as u32 - 1;

/// The word the `LD W ABS` of a big-endian word `x` loads.
fn native(x: u32) -> u32 {
    u32::from_ne_bytes(x.to_be_bytes())
}

/// The big-endian word whose `LD W ABS` gives `w`.
fn from_native(w: u32) -> u32 {
    u32::from_be_bytes(w.to_ne_bytes())
}

/// An address prefix as the search sees it: the network's words in host
/// order, first word first (one for IPv4, four for IPv6), and its length.
#[derive(Clone, Copy, Debug)]
struct Prefix {
    net: [u32; 4],
    len: u32,
    v6: bool,
}

impl Prefix {
    fn v4(&(net, len): &(u32, u8)) -> Prefix {
        Prefix { net: [net, 0, 0, 0], len: len as u32, v6: false }
    }

    fn v6(&(net, len): &(u128, u8)) -> Prefix {
        let w = |i: u32| (net >> (96 - 32 * i)) as u32;
        Prefix { net: [w(0), w(1), w(2), w(3)], len: len as u32, v6: true }
    }

    /// How many words the prefix constrains.
    fn words(&self) -> usize {
        self.len.div_ceil(32) as usize
    }

    /// The mask of word `k`, in host order.
    fn mask(&self, k: usize) -> u32 {
        match self.len.saturating_sub(32 * k as u32).min(32) {
            0 => 0,
            bits => u32::MAX << (32 - bits),
        }
    }

    fn name(&self) -> String {
        if self.v6 {
            let net = self.net.iter().fold(0u128, |a, &w| (a << 32) | w as u128);
            format!("{}/{}", Ipv6Addr::from(net), self.len)
        } else {
            format!("{}/{}", Ipv4Addr::from(self.net[0]), self.len)
        }
    }
}

/// How prefixes that share their first `k` words are searched from word
/// `k` on.
enum Search {
    /// Fewer than [`TREE_MIN`]: each prefix in turn.
    Scan { k: usize, prefixes: Vec<Prefix> },
    /// A decision tree over word `k`. The prefixes that end in the word
    /// are spans of its values in host order (adjacent ones merged): the
    /// word is compared as a number, which a little-endian host gets by
    /// swapping its bytes (`swap`). Without such spans only equal words
    /// are sought, and the word is compared as loaded. A span accepts
    /// (`None`), or goes on with the longer prefixes that share that word.
    Tree { k: usize, v6: bool, swap: bool, spans: Vec<(u32, u32, Option<Search>)> },
}

impl Search {
    fn v4(list: &[(u32, u8)]) -> Search {
        Search::new(&list.iter().map(Prefix::v4).collect::<Vec<_>>(), 0)
    }

    fn v6(list: &[(u128, u8)]) -> Search {
        Search::new(&list.iter().map(Prefix::v6).collect::<Vec<_>>(), 0)
    }

    /// The search for prefixes of which none lies in another (as
    /// [`Conds::normalized`] leaves them) and that share words `..k`.
    fn new(prefixes: &[Prefix], k: usize) -> Search {
        if prefixes.len() < TREE_MIN {
            return Search::Scan { k, prefixes: prefixes.to_vec() };
        }
        let mut ends = Vec::new();
        let mut longer: BTreeMap<u32, Vec<Prefix>> = BTreeMap::new();
        for p in prefixes {
            let (w, m) = (p.net[k], p.mask(k));
            if p.words() == k + 1 {
                ends.push((w & m, w | !m));
            } else {
                longer.entry(w).or_default().push(*p);
            }
        }
        let in_order = cfg!(target_endian = "big") || ends.iter().any(|&(lo, hi)| lo != hi);
        let key = |x: u32| if in_order { x } else { native(x) };
        ends.sort_unstable();
        let mut spans: Vec<(u32, u32, Option<Search>)> = Vec::new();
        for (lo, hi) in ends {
            match spans.last_mut() {
                Some(last) if in_order && last.1.checked_add(1) == Some(lo) => last.1 = hi,
                _ => spans.push((key(lo), key(hi), None)),
            }
        }
        // A longer prefix's word lies in no span (the prefix would be
        // inside that span's) and shares it with the prefixes it goes on
        // with.
        spans.extend(longer.into_iter().map(|(w, sub)| (key(w), key(w), Some(Search::new(&sub, k + 1)))));
        spans.sort_unstable_by_key(|s| s.0);
        let swap = in_order && cfg!(target_endian = "little");
        Search::Tree { k, v6: prefixes[0].v6, swap, spans }
    }

    /// The most loads of each address word one run makes.
    fn loads(&self) -> [usize; 4] {
        let mut n = [0; 4];
        match self {
            Search::Scan { k, prefixes } => {
                for p in prefixes {
                    for w in &mut n[*k..p.words()] {
                        *w += 1;
                    }
                }
            }
            Search::Tree { k, swap, spans, .. } => {
                for sub in spans.iter().filter_map(|s| s.2.as_ref()) {
                    for (a, b) in n.iter_mut().zip(sub.loads()) {
                        *a = (*a).max(b);
                    }
                }
                n[*k] = if *swap { 2 } else { 1 };
            }
        }
        n
    }
}

/// How a group's failing conditions reach the group's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Conditional jumps straight to the group's fail label: shortest, but
    /// only while every such jump spans at most 255 instructions.
    Direct,
    /// Each condition fails through a local `ja` (unlimited range) to the
    /// fail label: the long-jump trampoline, for groups too long for
    /// direct jumps.
    Trampoline,
}

struct Gen<'a> {
    a: &'a mut Asm,
    /// Where a failed condition goes.
    fail: Label,
    /// Context words the group reads more than once: word offset ->
    /// scratch slot, filled at the group's start.
    cache: &'a BTreeMap<u32, u32>,
    /// The fail label may be more than 255 instructions away (the
    /// trampoline layout): conditional jumps reach it through a `ja`.
    far: bool,
}

impl Gen<'_> {
    /// `A = ctx[off]`, from its scratch copy if the group keeps one: each
    /// context word is loaded from the context once per group.
    fn load(&mut self, off: u32, comment: &str) {
        match self.cache.get(&off) {
            Some(&slot) if comment.is_empty() => self.a.ld_mem(slot, ""),
            Some(&slot) => self.a.ld_mem(slot, &format!("{comment} (kept in M[{slot}])")),
            None => self.a.ld_abs(off, comment),
        };
    }

    /// Jump to `yes` when all bits of every (offset, mask) word are set,
    /// else to `no`. Falls through to neither: always jumps.
    /// `name(off, m)` names the bits `m` of the word at `off` for comments.
    fn all_bits(
        &mut self,
        words: &[(u32, u32)],
        yes: Target,
        no: Target,
        what: &str,
        name: &dyn Fn(u32, u32) -> String,
    ) {
        let n = words.len();
        if n == 0 {
            self.a.ja(yes, &format!("{what}: empty mask is always set"));
            return;
        }
        for (i, &(off, m)) in words.iter().enumerate() {
            let last = i + 1 == n;
            let t = if last { yes } else { Target::Next };
            self.load(off, &format!("{what}: load word at {off}"));
            if m.is_power_of_two() {
                self.a.jmp_k(Cond::Set, m, t, no, &format!("{} set?", name(off, m)));
            } else {
                self.a.alu_k(BPF_AND, m, "");
                self.a.jmp_k(Cond::Eq, m, t, no, &format!("all of {} set?", name(off, m)));
            }
        }
    }

    /// Fail if all bits of `mask` are set in the 64-bit field at `off`.
    fn clear64(&mut self, off: usize, mask: u64, what: &str, table: &[(&'static str, u64)]) {
        let ok = self.a.label();
        let w = words64(off, mask);
        let name = |o: u32, m: u32| describe(table, word_bits(off, o, m));
        let what = format!("{what} {} must not be set", describe(table, mask));
        self.all_bits(&w, Target::To(self.fail), Target::To(ok), &what, &name);
        self.a.bind(ok);
    }

    /// Fail unless all bits of `mask` are set in the 64-bit field at `off`.
    fn set64(&mut self, off: usize, mask: u64, what: &str, table: &[(&'static str, u64)]) {
        let ok = self.a.label();
        let w = words64(off, mask);
        let name = |o: u32, m: u32| describe(table, word_bits(off, o, m));
        let what = format!("{what} {} must be set", describe(table, mask));
        self.all_bits(&w, Target::To(ok), Target::To(self.fail), &what, &name);
        self.a.bind(ok);
    }

    /// Fail unless the value in A is one of `values` (sorted, distinct):
    /// a linear scan for short lists, else a balanced decision tree.
    fn member(&mut self, values: &[u32], what: &str, describe: &dyn Fn(u32) -> String) {
        let ok = self.a.label();
        let spans: Vec<Span> = values.iter().map(|&v| (v, v, ok)).collect();
        self.span_tree(&spans, u32::MAX, what, describe);
        self.a.bind(ok);
    }

    /// Load the big-endian 16-bit port at offset 20 into A, in host order.
    fn load_port(&mut self) {
        let off = ctx_off::CONNECT_PORT as u32;
        if cfg!(target_endian = "little") {
            // word = b20 | b21 << 8 | 0 | 0; port = b20 << 8 | b21
            self.load(off, "port: load word at 20 (bytes 20,21 = port, big-endian)");
            self.a.alu_k(BPF_AND, 0xff, "high byte of the port (byte 20)");
            self.a.alu_k(BPF_LSH, 8, "");
            self.a.tax("X = port & 0xff00");
            self.load(off, "");
            self.a.alu_k(BPF_RSH, 8, "");
            self.a.alu_k(BPF_AND, 0xff, "low byte of the port (byte 21)");
            self.a.alu_x(BPF_OR, "A = port in host order");
        } else {
            self.load(off, "port: load word at 20 (bytes 20,21 = port)");
            self.a.alu_k(BPF_RSH, 16, "A = port in host order");
        }
    }

    /// Fail unless the port in A lies in one of the ranges (sorted,
    /// disjoint, not adjacent): linear for few, else a decision tree.
    fn port_ranges(&mut self, ranges: &[(u16, u16)]) {
        let ok = self.a.label();
        let spans: Vec<Span> = ranges.iter().map(|&(lo, hi)| (lo as u32, hi as u32, ok)).collect();
        self.span_tree(&spans, u16::MAX as u32, "port", &|v| v.to_string());
        self.a.bind(ok);
    }

    /// Jump to the target of the span that holds the value in A (at most
    /// `max`), else fail. The spans are sorted and disjoint: a scan for
    /// few, else a balanced decision tree (libseccomp's binary-tree
    /// optimisation) that halves them with one `jge` a level. In comments,
    /// `what` names the value and `show` a constant.
    fn span_tree(&mut self, spans: &[Span], max: u32, what: &str, show: &dyn Fn(u32) -> String) {
        if spans.is_empty() {
            self.a.ja(self.fail, &format!("empty {what} list: nothing matches"));
            return;
        }
        if spans.len() >= TREE_MIN {
            let mid = spans.len() / 2;
            let right = self.a.label();
            let lo = spans[mid].0;
            self.a.jmp_k(
                Cond::Ge,
                lo,
                right,
                Target::Next,
                &format!("{what} >= {}? (search the upper half)", show(lo)),
            );
            self.span_tree(&spans[..mid], max, what, show);
            self.a.bind(right);
            self.span_tree(&spans[mid..], max, what, show);
            return;
        }
        // A value that reaches a span lies in none before it, so one below
        // the span's start lies in no span at all.
        for (i, &(lo, hi, to)) in spans.iter().enumerate() {
            let last = i + 1 == spans.len();
            let next = self.a.label();
            let no = if last { self.fail } else { next };
            if lo == hi {
                self.a.jmp_k(Cond::Eq, lo, to, no, &format!("{what} == {}?", show(lo)));
            } else if lo == 0 && hi == max {
                self.a.ja(to, &format!("any {what}"));
            } else if lo == 0 {
                self.a.jmp_k(Cond::Gt, hi, no, to, &format!("{what} > {}?", show(hi)));
            } else if hi == max {
                self.a.jmp_k(Cond::Ge, lo, to, self.fail, &format!("{what} >= {}?", show(lo)));
            } else {
                self.a.jmp_k(Cond::Gt, hi, no, Target::Next, &format!("{what} > {}?", show(hi)));
                self.a.jmp_k(Cond::Ge, lo, to, self.fail, &format!("{what} >= {}?", show(lo)));
            }
            if !last {
                self.a.bind(next);
            }
        }
    }

    /// Address prefixes, with the family dispatch (see [`Conds::ipv4`]).
    fn addresses(&mut self, v4: Option<&[(u32, u8)]>, v6: Option<&[(u128, u8)]>) {
        let ok = self.a.label();
        let l4 = self.a.label();
        let l6 = self.a.label();
        self.load(ctx_off::CONNECT_FAMILY as u32, "address check: load family");
        match (v4.is_some(), v6.is_some(), self.far) {
            (true, true, false) => {
                self.a.jmp_k(Cond::Eq, AF_INET, l4, Target::Next, "AF_INET?");
                self.a.jmp_k(Cond::Eq, AF_INET6, l6, self.fail, "AF_INET6? else deny");
            }
            (true, false, false) => {
                self.a.jmp_k(Cond::Eq, AF_INET, l4, self.fail, "AF_INET? else deny");
            }
            (false, _, false) => {
                self.a.jmp_k(Cond::Eq, AF_INET6, l6, self.fail, "AF_INET6? else deny");
            }
            // The fail label may be far: reach it with a `ja`.
            (_, _, true) => {
                if v4.is_some() {
                    self.a.jmp_k(Cond::Eq, AF_INET, l4, Target::Next, "AF_INET?");
                }
                if v6.is_some() {
                    self.a.jmp_k(Cond::Eq, AF_INET6, l6, Target::Next, "AF_INET6?");
                }
                self.a.ja(self.fail, "no listed family: deny");
            }
        }
        if let Some(list) = v4 {
            self.a.bind(l4);
            let search = Search::v4(list);
            if v6.is_some() && self.far {
                // Keep the IPv4 jumps short: leave through local jumps.
                let (ok4, fail4, outer_fail) = (self.a.label(), self.a.label(), self.fail);
                self.fail = fail4;
                self.search(&search, ok4);
                self.fail = outer_fail;
                self.a.bind(ok4);
                self.a.ja(ok, "IPv4 prefix matched");
                self.a.bind(fail4);
                self.a.ja(self.fail, "no IPv4 prefix matched: deny");
            } else {
                self.search(&search, ok);
            }
        }
        if let Some(list) = v6 {
            self.a.bind(l6);
            self.search(&Search::v6(list), ok);
        }
        self.a.bind(ok);
    }

    /// Jump to `ok` if the address lies in one of the search's prefixes,
    /// else fail.
    fn search(&mut self, s: &Search, ok: Label) {
        let (k, v6, swap, spans) = match s {
            Search::Scan { k, prefixes } => return self.scan(prefixes, *k, ok),
            Search::Tree { k, v6, swap, spans } => (*k, *v6, *swap, spans),
        };
        let off = (ctx_off::CONNECT_ADDR + 4 * k) as u32;
        let what = if v6 { format!("address word {k}") } else { "address".to_string() };
        if swap {
            self.load_host(off, &what);
        } else {
            self.load(off, &format!("{what}: load word at {off}"));
        }
        let mut subs = Vec::new();
        let targets: Vec<Span> = spans
            .iter()
            .map(|(lo, hi, sub)| match sub {
                None => (*lo, *hi, ok),
                Some(sub) => {
                    let at = self.a.label();
                    subs.push((at, sub));
                    (*lo, *hi, at)
                }
            })
            .collect();
        let show = |x: u32| {
            let host = if swap { x } else { from_native(x) };
            if v6 { format!("{:x}:{:x}", host >> 16, host & 0xffff) } else { Ipv4Addr::from(host).to_string() }
        };
        self.span_tree(&targets, u32::MAX, &what, &show);
        for (at, sub) in subs {
            self.a.bind(at);
            self.search(sub, ok);
        }
    }

    /// Each prefix in turn, its words from word `k` on masked and compared:
    /// jump to `ok` on the first that matches, else fail.
    fn scan(&mut self, prefixes: &[Prefix], k: usize, ok: Label) {
        if prefixes.is_empty() {
            self.a.ja(self.fail, "empty prefix list: nothing matches");
        }
        for (i, p) in prefixes.iter().enumerate() {
            let last = i + 1 == prefixes.len();
            let next = self.a.label();
            let no = if last { Target::To(self.fail) } else { Target::To(next) };
            let name = p.name();
            if p.len == 0 {
                self.a.ja(ok, &format!("{name}: any address"));
            }
            for j in k..p.words() {
                let off = (ctx_off::CONNECT_ADDR + 4 * j) as u32;
                let (m, v) = (p.mask(j), p.net[j] & p.mask(j));
                let yes = if j + 1 == p.words() { Target::To(ok) } else { Target::Next };
                self.load(off, &format!("{name}: address word at {off}"));
                if m != u32::MAX {
                    self.a.alu_k(BPF_AND, native(m), "");
                }
                self.a.jmp_k(Cond::Eq, native(v), yes, no, "");
            }
            if !last {
                self.a.bind(next);
            }
        }
    }

    /// `A = ` the big-endian word at `off` in host order, for comparisons
    /// as numbers: a little-endian host swaps its bytes (through X and
    /// M[SWAP_SLOT]).
    fn load_host(&mut self, off: u32, what: &str) {
        // word = b0 | b1 << 8 | b2 << 16 | b3 << 24, b0 the first byte
        self.load(off, &format!("{what}: load word at {off}, to swap its bytes"));
        self.a.alu_k(BPF_LSH, 16, "");
        self.a.tax("");
        self.load(off, "");
        self.a.alu_k(BPF_RSH, 16, "");
        self.a.alu_x(BPF_OR, "halves swapped: b2 | b3 << 8 | b0 << 16 | b1 << 24");
        self.a.st(SWAP_SLOT, "");
        self.a.alu_k(BPF_AND, 0x00ff_00ff, "");
        self.a.alu_k(BPF_LSH, 8, "");
        self.a.tax("X = b2 << 8 | b0 << 24");
        self.a.ld_mem(SWAP_SLOT, "");
        self.a.alu_k(BPF_RSH, 8, "");
        self.a.alu_k(BPF_AND, 0x00ff_00ff, "");
        self.a.alu_x(BPF_OR, &format!("A = {what} in host order"));
    }
}

/// The context words a group's conditions load, once per load (the
/// generator's `load` calls, in any order).
fn word_uses(c: &Conds) -> Vec<u32> {
    let mut w = Vec::new();
    w.extend(c.sqe_flags_clear.iter().map(|_| 8));
    if c.family.is_some() {
        w.push(ctx_off::SOCKET_FAMILY as u32);
    }
    if c.sock_type.is_some() {
        w.push(ctx_off::SOCKET_TYPE as u32);
    }
    if c.protocol.is_some() {
        w.push(ctx_off::SOCKET_PROTOCOL as u32);
    }
    for (off, masks) in [
        (ctx_off::OPEN_FLAGS, c.flags_clear.iter().chain(&c.flags_set)),
        (ctx_off::OPEN_MODE, c.mode_clear.iter().chain(&c.mode_set)),
        (ctx_off::OPEN_RESOLVE, c.resolve_clear.iter().chain(&c.resolve_set)),
    ] {
        for &m in masks {
            w.extend(words64(off, m).into_iter().map(|(o, _)| o));
        }
    }
    if c.port.is_some() {
        let n = if cfg!(target_endian = "little") { 2 } else { 1 };
        w.extend(std::iter::repeat_n(ctx_off::CONNECT_PORT as u32, n));
    }
    if c.ipv4.is_some() || c.ipv6.is_some() {
        w.push(ctx_off::CONNECT_FAMILY as u32);
        // The IPv4 and IPv6 searches are on different paths: a word counts
        // as often as the path that reads it most.
        let v4 = c.ipv4.as_deref().map_or([0; 4], |l| Search::v4(l).loads());
        let v6 = c.ipv6.as_deref().map_or([0; 4], |l| Search::v6(l).loads());
        for (i, (a, b)) in v4.into_iter().zip(v6).enumerate() {
            w.extend(std::iter::repeat_n((ctx_off::CONNECT_ADDR + 4 * i) as u32, a.max(b)));
        }
    }
    w
}

/// The program of `allow_if` groups: each group's conditions, failing
/// into the next group; the last fails into `ret 0`. The groups are
/// normalised first ([`Conds::normalized`]); a group that can never hold
/// is left out, and one that always holds makes the program `ret 1`.
fn gen_groups(groups: &[Conds], layout: Layout) -> Result<Program, AsmError> {
    let groups: Vec<Conds> = groups.iter().map(Conds::normalized).filter(|c| c.contradiction().is_none()).collect();
    let mut a = Asm::new();
    if groups.iter().any(Conds::matches_everything) {
        a.ret_k(RET_ALLOW, "a group holds for every request: allow");
        return a.finish();
    }
    for (i, c) in groups.iter().enumerate() {
        // Where this group fails: the next group, or the final deny.
        let fail = a.label();
        gen_conds(&mut a, c, layout, fail);
        let what =
            if groups.len() > 1 { format!("group {i} holds: allow") } else { "all conditions hold: allow".into() };
        a.ret_k(RET_ALLOW, &what);
        a.bind(fail);
    }
    a.ret_k(RET_DENY, if groups.is_empty() { "no group can hold: deny" } else { "deny" });
    Ok(tidy(&a.finish()?))
}

fn gen_conds(a: &mut Asm, c: &Conds, layout: Layout, deny: Label) {
    // Words read more than once get a scratch copy, loaded first.
    let mut count: BTreeMap<u32, usize> = BTreeMap::new();
    for w in word_uses(c) {
        *count.entry(w).or_default() += 1;
    }
    let mut cache = BTreeMap::new();
    for (&w, _) in count.iter().filter(|&(_, &n)| n > 1) {
        let slot = cache.len() as u32;
        a.ld_abs(w, &format!("word at {w}, read {} times: keep it in M[{slot}]", count[&w]));
        a.st(slot, "");
        cache.insert(w, slot);
    }
    let cache = &cache;
    let fam_name = |v: u32| match names::name_of(names::FAMILIES, v) {
        Some(n) => format!("AF_{} ({v})", n.to_ascii_uppercase()),
        None => v.to_string(),
    };
    let type_name = |v: u32| match names::name_of(names::SOCK_TYPES, v) {
        Some(n) => format!("SOCK_{} ({v})", n.to_ascii_uppercase()),
        None => v.to_string(),
    };
    let proto_name = |v: u32| match names::name_of(names::PROTOCOLS, v) {
        Some(n) => format!("{n} ({v})"),
        None => v.to_string(),
    };
    // Each block: run `body` with a fail label.
    let block = |a: &mut Asm, body: &mut dyn FnMut(&mut Gen)| match layout {
        Layout::Direct => {
            let mut g = Gen { a, fail: deny, cache, far: false };
            body(&mut g);
        }
        Layout::Trampoline => {
            let fail = a.label();
            let ok = a.label();
            {
                let mut g = Gen { a: &mut *a, fail, cache, far: true };
                body(&mut g);
            }
            a.ja(ok, "condition holds");
            a.bind(fail);
            a.ja(deny, "condition fails: leave the group");
            a.bind(ok);
        }
    };
    for &m in &c.sqe_flags_clear {
        let word = u32::from_ne_bytes({
            let mut b = [0u8; 4];
            b[ctx_off::SQE_FLAGS - 8] = m;
            b
        });
        block(a, &mut |g| {
            let ok = g.a.label();
            let fail = g.fail;
            let what = format!("sqe_flags {} must not be set", describe(names::SQE_FLAGS, m as u64));
            let name = |_: u32, _: u32| names::mask_name(names::SQE_FLAGS, m as u64).unwrap_or(format!("{m:#x}"));
            g.all_bits(&[(8, word)], Target::To(fail), Target::To(ok), &what, &name);
            g.a.bind(ok);
        });
    }
    if let Some(l) = &c.family {
        block(a, &mut |g| {
            g.load(ctx_off::SOCKET_FAMILY as u32, "load family");
            g.member(l, "family", &fam_name);
        });
    }
    if let Some(l) = &c.sock_type {
        block(a, &mut |g| {
            g.load(ctx_off::SOCKET_TYPE as u32, "load type");
            g.a.alu_k(BPF_AND, SOCK_TYPE_MASK, "drop SOCK_NONBLOCK/SOCK_CLOEXEC");
            g.member(l, "type", &type_name);
        });
    }
    if let Some(l) = &c.protocol {
        block(a, &mut |g| {
            g.load(ctx_off::SOCKET_PROTOCOL as u32, "load protocol");
            g.member(l, "protocol", &proto_name);
        });
    }
    let fields64 = [
        (ctx_off::OPEN_FLAGS, "flags", &c.flags_clear, &c.flags_set, names::OPEN_FLAGS),
        (ctx_off::OPEN_MODE, "mode", &c.mode_clear, &c.mode_set, names::MODE_BITS),
        (ctx_off::OPEN_RESOLVE, "resolve", &c.resolve_clear, &c.resolve_set, names::RESOLVE_BITS),
    ];
    for (off, what, clear, set, table) in fields64 {
        for &m in clear.iter() {
            block(a, &mut |g| g.clear64(off, m, what, table));
        }
        for &m in set.iter() {
            block(a, &mut |g| g.set64(off, m, what, table));
        }
    }
    if let Some(r) = &c.port {
        block(a, &mut |g| {
            g.load_port();
            g.port_ranges(r);
        });
    }
    if c.ipv4.is_some() || c.ipv6.is_some() {
        block(a, &mut |g| g.addresses(c.ipv4.as_deref(), c.ipv6.as_deref()));
    }
}

/// Remove what no path reaches and jumps that go nowhere: retarget jumps
/// that land on a `ja` to where it goes (while the offset fits), drop
/// `ja +0` and every unreachable instruction, and fix the offsets. The
/// result runs exactly like the input on every context.
pub fn tidy(p: &Program) -> Program {
    use crate::bpf::{BPF_JA, BPF_JMP};
    let ja = BPF_JMP | BPF_JA;
    let is_jmp = |code: u16| code & 7 == BPF_JMP;
    let is_ret = |code: u16| code & 7 == crate::bpf::BPF_RET;
    let mut insns = p.insns.clone();
    let mut comments = p.comments.clone();
    loop {
        let n = insns.len();
        // Where a jump to `t` ends up after following `ja`s.
        let land = |insns: &[crate::abi::SockFilter], mut t: usize| {
            let mut hops = 0;
            while t < insns.len() && insns[t].code == ja && hops < insns.len() {
                t = t + 1 + insns[t].k as usize;
                hops += 1;
            }
            t
        };
        for pc in 0..n {
            let i = insns[pc];
            if i.code == ja {
                let t = land(&insns, pc + 1 + i.k as usize);
                insns[pc].k = (t - pc - 1) as u32;
            } else if is_jmp(i.code) {
                for (off, is_t) in [(i.jt, true), (i.jf, false)] {
                    let t = land(&insns, pc + 1 + off as usize);
                    if t - pc - 1 <= 255 {
                        if is_t { insns[pc].jt = (t - pc - 1) as u8 } else { insns[pc].jf = (t - pc - 1) as u8 }
                    }
                }
            }
        }
        // Reachability.
        let mut live = vec![false; n];
        let mut stack = vec![0usize];
        while let Some(pc) = stack.pop() {
            if pc >= n || live[pc] {
                continue;
            }
            live[pc] = true;
            let i = insns[pc];
            if is_ret(i.code) {
                continue;
            }
            if i.code == ja {
                stack.push(pc + 1 + i.k as usize);
            } else if is_jmp(i.code) {
                stack.push(pc + 1 + i.jt as usize);
                stack.push(pc + 1 + i.jf as usize);
            } else {
                stack.push(pc + 1);
            }
        }
        // Drop dead instructions and `ja +0`.
        let keep: Vec<bool> = (0..n).map(|pc| live[pc] && !(insns[pc].code == ja && insns[pc].k == 0)).collect();
        if keep.iter().all(|&k| k) {
            break;
        }
        // new_at[pc]: the index of the first kept instruction at or after pc.
        let mut new_at = vec![0usize; n + 1];
        let mut next = keep.iter().filter(|&&k| k).count();
        new_at[n] = next;
        for pc in (0..n).rev() {
            if keep[pc] {
                next -= 1;
            }
            new_at[pc] = next;
        }
        let mut out = Vec::new();
        let mut out_c = Vec::new();
        for pc in 0..n {
            if !keep[pc] {
                continue;
            }
            let mut i = insns[pc];
            let me = new_at[pc];
            if i.code == ja {
                i.k = (new_at[pc + 1 + i.k as usize] - me - 1) as u32;
            } else if is_jmp(i.code) {
                i.jt = (new_at[pc + 1 + i.jt as usize] - me - 1) as u8;
                i.jf = (new_at[pc + 1 + i.jf as usize] - me - 1) as u8;
            }
            out.push(i);
            out_c.push(comments.get(pc).cloned().unwrap_or_default());
        }
        insns = out;
        comments = out_c;
    }
    Program { insns, comments }
}

/// The program for one rule, laid out as asked.
pub fn compile_rule_with(rule: &Rule, layout: Layout) -> Result<Program, AsmError> {
    let mut a = Asm::new();
    match rule {
        Rule::Allow => {
            a.ret_k(RET_ALLOW, "allow");
            a.finish()
        }
        Rule::Deny => {
            a.ret_k(RET_DENY, "deny");
            a.finish()
        }
        Rule::AllowIf(g) => gen_groups(g, layout),
    }
}

/// The program for one rule: direct jumps, or the trampoline layout where
/// a group is too long for them.
pub fn compile_rule(rule: &Rule) -> Result<Program, AsmError> {
    match compile_rule_with(rule, Layout::Direct) {
        Err(AsmError::JumpTooFar { .. }) => compile_rule_with(rule, Layout::Trampoline),
        r => r,
    }
}

/// Compile a policy into the filters to register, in registration order.
/// Every program has passed [`bpf::validate`]. With `default = "deny"` the
/// last filter carries IO_URING_BPF_FILTER_DENY_REST (a policy without
/// rules then gets a single deny filter for IORING_OP_NOP to carry it).
pub fn compile(policy: &Policy) -> Result<Vec<CompiledFilter>, CompileError> {
    let mut out = Vec::new();
    for (&op, rule) in &policy.rules {
        let program = compile_rule(rule).map_err(|err| CompileError::Asm { opcode: op, err })?;
        bpf::validate(&program.insns).map_err(|err| CompileError::Invalid { opcode: op, err })?;
        let pdu_size = match rule {
            Rule::AllowIf(g) if g.iter().any(Conds::reads_pdu) => opcodes::pdu_size(op),
            _ => 0,
        };
        out.push(CompiledFilter { opcode: op, flags: 0, pdu_size, program });
    }
    if policy.default == Action::Deny {
        if out.is_empty() {
            let program = compile_rule(&Rule::Deny).map_err(|err| CompileError::Asm { opcode: IORING_OP_NOP, err })?;
            out.push(CompiledFilter { opcode: IORING_OP_NOP, flags: 0, pdu_size: 0, program });
        }
        if let Some(last) = out.last_mut() {
            last.flags |= IO_URING_BPF_FILTER_DENY_REST;
        }
    }
    Ok(out)
}

/// The filters `iou-sandbox` installs on a task whose kernel knows the
/// opcodes below `op_last`: those of [`compile`], and with `default =
/// "deny"` then one deny filter (`ret #0`) for every other opcode below
/// `op_last`, in opcode order (the rules' last filter carries
/// IO_URING_BPF_FILTER_DENY_REST, as in [`compile`]).
///
/// DENY_REST alone marks only opcodes that have no filter yet in the
/// task's set: under an outer sandbox, or a parent that already installed
/// task filters, an opcode the outer policy filters would stay open to
/// whatever the outer filter allows. An explicit deny filter runs whatever
/// is installed before it (every filter must allow), so `default = "deny"`
/// then means exactly: requests of opcodes without an allowing rule fail
/// with EACCES, on this kernel, however the filters stack. (Opcodes at or
/// past `op_last` cannot be submitted at all.)
pub fn compile_task(policy: &Policy, op_last: u32) -> Result<Vec<CompiledFilter>, CompileError> {
    let mut out = compile(policy)?;
    if policy.default == Action::Deny {
        let deny = compile_rule(&Rule::Deny).map_err(|err| CompileError::Asm { opcode: IORING_OP_NOP, err })?;
        // The rules' last filter keeps DENY_REST: the deny filters after
        // it then only add to deny entries, and a kernel that knows fewer
        // opcodes than assumed can stop taking them at its first EINVAL.
        // compile() gives a policy without rules a deny filter for NOP.
        let have: Vec<u8> = out.iter().map(|f| f.opcode).collect();
        for op in 0..op_last.min(256) {
            let op = op as u8;
            if !have.contains(&op) {
                out.push(CompiledFilter { opcode: op, flags: 0, pdu_size: 0, program: deny.clone() });
            }
        }
    }
    Ok(out)
}

/// A model of a kernel filter set (`Documentation/userspace-api/io_uring_bpf_filter.rst`:
/// "Denying the rest" and "Evaluation").
#[derive(Clone, Debug, Default)]
pub struct FilterSet {
    /// Per opcode, entries oldest first; `None` is a "deny" entry.
    entries: Vec<Vec<Option<Vec<crate::abi::SockFilter>>>>,
}

impl FilterSet {
    pub fn new() -> FilterSet {
        // Every u8 opcode: a policy may name opcodes by number.
        FilterSet { entries: vec![Vec::new(); 256] }
    }

    /// Register one filter (already validated).
    pub fn add(&mut self, opcode: u8, flags: u32, prog: &[crate::abi::SockFilter]) {
        if let Some(e) = self.entries.get_mut(opcode as usize) {
            e.push(Some(prog.to_vec()));
        }
        if flags & IO_URING_BPF_FILTER_DENY_REST != 0 {
            for e in self.entries.iter_mut() {
                if e.is_empty() {
                    e.push(None);
                }
            }
        }
    }

    /// Register a compiled policy.
    pub fn add_all(&mut self, filters: &[CompiledFilter]) {
        for f in filters {
            self.add(f.opcode, f.flags, &f.program.insns);
        }
    }

    /// Would the kernel allow this request? Newest first; a deny entry or a
    /// zero return stops evaluation.
    pub fn allows(&self, ctx: &Ctx) -> bool {
        self.denial(ctx).is_none()
    }

    /// The filter that denies this request, if one does: the first, newest
    /// first, that is a deny entry or returns 0. This is what the kernel's
    /// `io_uring_bpf_filter_deny` tracepoint reports (its index and "deny
    /// rest"; the set does not record where filters were registered).
    pub fn denial(&self, ctx: &Ctx) -> Option<Denial> {
        let e = self.entries.get(ctx.opcode() as usize)?;
        e.iter().rev().zip(0u32..).find_map(|(f, index)| match f {
            None => Some(Denial { index, deny_rest: true }),
            Some(p) if bpf::run(p, ctx) == 0 => Some(Denial { index, deny_rest: false }),
            Some(_) => None,
        })
    }
}

/// Which filter of a [`FilterSet`] denied a request (the rst's "Seeing the
/// filters": the `io_uring_bpf_filter_deny` tracepoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Denial {
    /// Its position in the opcode's chain, 0 for the newest.
    pub index: u32,
    /// It is the deny entry of `IO_URING_BPF_FILTER_DENY_REST`, not a
    /// program.
    pub deny_rest: bool,
}
