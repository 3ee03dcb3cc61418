//! The model behind `iou-fuzz-check`, the guest's differential fuzzer of
//! ring-level `IORING_REGISTER_BPF_FILTER`: random classic BPF programs
//! (valid ones built from every instruction class the uapi allows, and
//! invalid ones mutated from them), random registrations of them (any
//! opcode, flags, `pdu_size` and reserved fields), the errno and the
//! `pdu_size` written back that the uapi predicts for each ([`predict`]),
//! and the filter set of a ring that follows its registrations
//! ([`RingModel`]), whose verdicts are those of [`bpf::run`].
//!
//! Everything here is pure (no system calls): the binary does the calls,
//! the host's cargo tests check the generator and the predictor.
//!
//! The uapi's rules, in `Documentation/userspace-api/io_uring_bpf_filter.rst`:
//! "Registering a filter" (the checks and their order, the `pdu_size`
//! negotiation, DENY_REST), "Programs" (what [`bpf::validate`] accepts),
//! "Evaluation" (newest first, every filter must allow) and "Bounds" (the
//! path bound, [`MAX_INSNS_PER_PATH`]).

use crate::abi::{
    BPF_MAXINSNS, BPF_MEMWORDS, CTX_SIZE, IO_URING_BPF_CMD_FILTER, IO_URING_BPF_FILTER_DENY_REST,
    IO_URING_BPF_FILTER_FLAGS, IO_URING_BPF_FILTER_SZ_STRICT, IOSQE_ASYNC, SockFilter,
};
use crate::bpf::{self, *};
use crate::compile::FilterSet;
use crate::kcheck::{self, Drain, Request, Rng};
use crate::opcodes::{self, IORING_OP_CONNECT, IORING_OP_NOP, IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_SOCKET};
use crate::policy::{Action, Policy, Rule};
use std::fmt;

/// The most instructions a request may meet on one opcode's path
/// (seccomp's `MAX_INSNS_PER_PATH`): "Bounds" in the rst.
pub const MAX_INSNS_PER_PATH: u32 = 32768;
/// What each filter already on a path adds to the bound beyond its
/// instructions.
pub const PATH_COST_PER_FILTER: u32 = 4;

/// `iou-fuzz-check`'s defaults: the fixed-seed run of `make test`.
pub const DEFAULT_SEED: u64 = 0x6675_7a7a; // "fuzz"
pub const DEFAULT_RINGS: usize = 24;
pub const DEFAULT_REQUESTS: usize = 16;

/// The opcodes most filters are registered for: those with opcode data,
/// and NOP.
pub const FOCUS: [u8; 5] = [IORING_OP_NOP, IORING_OP_SOCKET, IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_CONNECT];

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter::new(code, 0, 0, k)
}

// ---- values the requests use ---------------------------------------------

/// The context words the requests of a ring put at each aligned offset,
/// the source of the constants programs compare with.
#[derive(Clone, Debug, Default)]
pub struct Pool {
    words: Vec<Vec<u32>>,
}

impl Pool {
    pub fn new(ctxs: &[Ctx]) -> Pool {
        let mut words = vec![Vec::new(); CTX_SIZE / 4];
        for c in ctxs {
            for (i, w) in words.iter_mut().enumerate() {
                let v = c.u32_at(4 * i);
                if !w.contains(&v) {
                    w.push(v);
                }
            }
        }
        Pool { words }
    }

    /// A word the requests have at `off` (mostly), or an interesting
    /// constant.
    pub fn word(&self, rng: &mut Rng, off: u32) -> u32 {
        match self.words.get(off as usize / 4) {
            Some(w) if !w.is_empty() && rng.chance(7, 8) => rng.pick(w),
            _ => constant(rng),
        }
    }

    /// An offset to load: mostly one where the requests differ.
    fn offset(&self, rng: &mut Rng) -> u32 {
        let varied: Vec<u32> =
            (0..self.words.len()).filter(|&i| self.words[i].len() > 1).map(|i| 4 * i as u32).collect();
        if !varied.is_empty() && rng.chance(3, 4) { rng.pick(&varied) } else { rng.pick(&LOAD_OFFSETS) }
    }

    /// Any word the requests use, or an interesting constant.
    fn any(&self, rng: &mut Rng) -> u32 {
        let off = 4 * rng.below(self.words.len().max(1) as u64) as u32;
        self.word(rng, off)
    }
}

fn constant(rng: &mut Rng) -> u32 {
    if rng.chance(1, 3) {
        rng.next_u64() as u32
    } else {
        rng.pick(&[0, 1, 2, 3, 0xff, 0x100, 0xffff, 0x8000, 0x8000_0000, u32::MAX, 40, 24, 12])
    }
}

/// What a filter returns to allow: non-zero, often 1.
fn allow_value(rng: &mut Rng) -> u32 {
    let any = (rng.next_u64() as u32) | 1;
    rng.pick(&[1, 1, 1, 2, 0x7fff_0000, u32::MAX, any])
}

// ---- valid programs ------------------------------------------------------

/// Where a jump goes: the next instruction, or a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum To {
    Next,
    L(usize),
}

/// A program under construction, with forward labels, that tracks which
/// scratch words are surely written exactly as the kernel's
/// `check_load_and_stores()` does (a linear pass; a jump ANDs its set
/// into its targets and resets the running set), so that the generator
/// loads only words the validator counts as written.
struct Builder {
    insns: Vec<SockFilter>,
    /// Jumps to resolve: (pc, 0 for `k`, 1 for `jt`, 2 for `jf`, label).
    fixups: Vec<(usize, u8, usize)>,
    /// Per label: its pc once bound, and the words written on every jump
    /// to it so far.
    labels: Vec<(Option<usize>, u16)>,
    /// The running set.
    memvalid: u16,
    /// The set the jumps to the next instruction carry (the kernel's
    /// `masks[pc]`).
    here: u16,
}

impl Builder {
    fn new() -> Builder {
        Builder { insns: Vec::new(), fixups: Vec::new(), labels: Vec::new(), memvalid: 0, here: 0xffff }
    }

    fn label(&mut self) -> usize {
        self.labels.push((None, 0xffff));
        self.labels.len() - 1
    }

    /// Bind `l` to the next instruction.
    fn bind(&mut self, l: usize) {
        assert!(self.labels[l].0.is_none(), "label bound twice");
        self.labels[l].0 = Some(self.insns.len());
        self.here &= self.labels[l].1;
    }

    /// The scratch words the next instruction may load.
    fn written(&self) -> u16 {
        self.memvalid & self.here
    }

    fn emit(&mut self, insn: SockFilter) {
        self.memvalid &= self.here;
        self.here = 0xffff;
        match insn.code {
            BPF_ST | BPF_STX => self.memvalid |= 1 << insn.k,
            c if c == BPF_LD | BPF_MEM || c == BPF_LDX | BPF_MEM => {
                debug_assert!(self.memvalid & (1 << insn.k) != 0, "load of M[{}] before a store", insn.k);
            }
            _ => {}
        }
        self.insns.push(insn);
    }

    fn target(&mut self, pc: usize, field: u8, to: To) {
        match to {
            To::Next => self.here &= self.memvalid,
            To::L(l) => {
                self.labels[l].1 &= self.memvalid;
                self.fixups.push((pc, field, l));
            }
        }
    }

    /// A conditional jump.
    fn jump(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.memvalid &= self.here;
        self.here = 0xffff;
        let pc = self.insns.len();
        self.insns.push(SockFilter::new(code, 0, 0, k));
        self.target(pc, 1, jt);
        self.target(pc, 2, jf);
        self.memvalid = 0xffff;
    }

    fn ja(&mut self, to: To) {
        self.memvalid &= self.here;
        self.here = 0xffff;
        let pc = self.insns.len();
        self.insns.push(stmt(BPF_JMP | BPF_JA, 0));
        self.target(pc, 0, to);
        self.memvalid = 0xffff;
    }

    fn finish(mut self) -> Vec<SockFilter> {
        for &(pc, field, l) in &self.fixups {
            let at = self.labels[l].0.expect("jump to an unbound label");
            assert!(at > pc && at < self.insns.len(), "label past the program");
            let off = at - pc - 1;
            let insn = &mut self.insns[pc];
            match field {
                0 => insn.k = off as u32,
                1 => insn.jt = u8::try_from(off).expect("conditional jump too far"),
                _ => insn.jf = u8::try_from(off).expect("conditional jump too far"),
            }
        }
        self.insns
    }
}

const ALU_OPS: [u16; 9] = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH];
const JMP_OPS: [u16; 4] = [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET];
/// The offsets `LD W ABS` reads: user_data (0, 4), opcode, flags and
/// pdu_size (8), the zero pad (12), the opcode data (16..36).
const LOAD_OFFSETS: [u32; 14] = [0, 0, 4, 8, 8, 12, 16, 16, 20, 20, 24, 28, 32, 36];

/// An `ALU op K` instruction the validator accepts (no division by 0,
/// no shift by 32 or more).
fn alu_k(rng: &mut Rng, op: u16, pool: &Pool) -> SockFilter {
    let k = match op {
        BPF_DIV => {
            let max = if rng.chance(1, 2) { 16 } else { u32::MAX as u64 };
            1 + rng.below(max) as u32
        }
        BPF_LSH | BPF_RSH => rng.below(32) as u32,
        BPF_AND => {
            let (bit, any) = (1 << rng.below(32), pool.any(rng));
            rng.pick(&[0xff, 0xffff, 0xff00, 0xffff_0000, bit, any])
        }
        _ => pool.any(rng),
    };
    stmt(BPF_ALU | op | BPF_K, k)
}

/// A in `a` after the straight-line `insn` (an ALU instruction).
fn alu_result(a: u32, insn: SockFilter) -> u32 {
    bpf::run(&[stmt(BPF_LD | BPF_IMM, a), insn, stmt(BPF_RET | BPF_A, 0)], &Ctx::default())
}

/// A comparison of A (`a` for one request) with a constant that some
/// requests pass and others fail.
fn comparison(rng: &mut Rng, a: u32) -> (u16, u32) {
    match rng.below(4) {
        0 => (BPF_JEQ, if rng.chance(3, 4) { a } else { a ^ (1 << rng.below(32)) }),
        1 => (BPF_JGT, a.wrapping_sub(rng.below(2) as u32)),
        2 => (BPF_JGE, a.wrapping_add(rng.below(2) as u32)),
        _ => {
            let bits: Vec<u32> = (0..32).filter(|b| a & (1 << b) != 0).collect();
            let k = if !bits.is_empty() && rng.chance(3, 4) { 1 << rng.pick(&bits) } else { 1 << rng.below(32) };
            (BPF_JSET, k)
        }
    }
}

/// One of `targets` (later chunks and the final returns), or the next
/// instruction.
fn pick_target(rng: &mut Rng, targets: &[usize]) -> To {
    if targets.is_empty() || rng.chance(1, 4) { To::Next } else { To::L(rng.pick(targets)) }
}

/// A test of one context field: load it, transform it, compare it with a
/// constant drawn from what the requests put there (for one request's
/// value), jump.
fn test_chunk(b: &mut Builder, rng: &mut Rng, pool: &Pool, targets: &[usize]) {
    let off = pool.offset(rng);
    b.emit(stmt(BPF_LD | BPF_W | BPF_ABS, off));
    let mut a = pool.word(rng, off);
    for _ in 0..rng.below(3) {
        let insn = if rng.chance(1, 8) {
            stmt(BPF_ALU | BPF_NEG, 0)
        } else {
            let op =
                rng.pick(&[BPF_AND, BPF_AND, BPF_RSH, BPF_LSH, BPF_ADD, BPF_SUB, BPF_XOR, BPF_OR, BPF_MUL, BPF_DIV]);
            alu_k(rng, op, pool)
        };
        a = alu_result(a, insn);
        b.emit(insn);
    }
    if rng.chance(1, 5) {
        b.emit(stmt(BPF_ST, rng.below(BPF_MEMWORDS as u64) as u32));
    }
    let (op, k) = comparison(rng, a);
    let jt = pick_target(rng, targets);
    let mut jf = pick_target(rng, targets);
    if jf == jt && targets.len() > 1 {
        jf = pick_target(rng, targets);
    }
    if rng.chance(1, 4) {
        // The constant in X: from an immediate, or kept in scratch memory.
        if rng.chance(1, 2) {
            b.emit(stmt(BPF_LDX | BPF_IMM, k));
        } else {
            let slot = rng.below(BPF_MEMWORDS as u64) as u32;
            b.emit(stmt(BPF_ST, slot)); // keep A
            b.emit(stmt(BPF_LD | BPF_IMM, k));
            b.emit(stmt(BPF_ST, (slot + 1) % BPF_MEMWORDS as u32));
            b.emit(stmt(BPF_LDX | BPF_MEM, (slot + 1) % BPF_MEMWORDS as u32));
            b.emit(stmt(BPF_LD | BPF_MEM, slot));
        }
        b.jump(BPF_JMP | op | BPF_X, 0, jt, jf);
    } else {
        b.jump(BPF_JMP | op | BPF_K, k, jt, jf);
    }
}

/// One random instruction of any allowed class (jumps to `targets`).
fn noise_insn(b: &mut Builder, rng: &mut Rng, pool: &Pool, targets: &[usize]) {
    match rng.below(12) {
        0 => {
            let op = rng.pick(&ALU_OPS);
            b.emit(alu_k(rng, op, pool));
        }
        // DIV X may divide by 0: the program then returns 0.
        1 => b.emit(stmt(BPF_ALU | rng.pick(&ALU_OPS) | BPF_X, 0)),
        2 => b.emit(stmt(BPF_ALU | BPF_NEG, 0)),
        3 => {
            let code = if rng.chance(1, 2) { BPF_LD | BPF_IMM } else { BPF_LDX | BPF_IMM };
            b.emit(stmt(code, pool.any(rng)));
        }
        4 => b.emit(stmt(BPF_LD | BPF_W | BPF_ABS, rng.pick(&LOAD_OFFSETS))),
        5 => b.emit(stmt(if rng.chance(1, 2) { BPF_LD | BPF_W | BPF_LEN } else { BPF_LDX | BPF_W | BPF_LEN }, 0)),
        6 => b.emit(stmt(if rng.chance(1, 2) { BPF_ST } else { BPF_STX }, rng.below(BPF_MEMWORDS as u64) as u32)),
        7 => {
            let w = b.written();
            let slots: Vec<u32> = (0..BPF_MEMWORDS as u32).filter(|s| w & (1 << s) != 0).collect();
            if slots.is_empty() {
                b.emit(stmt(BPF_ST, rng.below(BPF_MEMWORDS as u64) as u32));
            } else {
                let code = if rng.chance(1, 2) { BPF_LD | BPF_MEM } else { BPF_LDX | BPF_MEM };
                b.emit(stmt(code, rng.pick(&slots)));
            }
        }
        8 => b.emit(stmt(if rng.chance(1, 2) { BPF_MISC | BPF_TAX } else { BPF_MISC | BPF_TXA }, 0)),
        9 => {
            let to = pick_target(rng, targets);
            b.ja(to);
        }
        _ => {
            let src = if rng.chance(1, 3) { BPF_X } else { BPF_K };
            let (jt, jf) = (pick_target(rng, targets), pick_target(rng, targets));
            b.jump(BPF_JMP | rng.pick(&JMP_OPS) | src, pool.any(rng), jt, jf);
        }
    }
}

/// A random valid program: a few chunks (field tests, runs of random
/// instructions, early returns) with forward jumps to later chunks and to
/// the final returns (allow, deny and `ret a`, in random order).
pub fn gen_program(rng: &mut Rng, pool: &Pool) -> Vec<SockFilter> {
    let mut b = Builder::new();
    let tails: Vec<usize> = (0..3).map(|_| b.label()).collect();
    let n = 1 + rng.below(4) as usize;
    let starts: Vec<usize> = (0..n).map(|_| b.label()).collect();
    let first_test = rng.below(n as u64) as usize;
    for c in 0..n {
        b.bind(starts[c]);
        let targets: Vec<usize> = starts[c + 1..].iter().chain(&tails).copied().collect();
        let kind = if c == first_test { 0 } else { rng.below(10) };
        match kind {
            0..=5 => test_chunk(&mut b, rng, pool, &targets),
            6..=8 => {
                for _ in 0..1 + rng.below(5) {
                    noise_insn(&mut b, rng, pool, &targets);
                }
            }
            _ => {
                let ret = match rng.below(3) {
                    0 => stmt(BPF_RET | BPF_K, 0),
                    1 => stmt(BPF_RET | BPF_K, allow_value(rng)),
                    _ => stmt(BPF_RET | BPF_A, 0),
                };
                b.emit(ret);
            }
        }
    }
    let mut order = [0usize, 1, 2];
    for i in (1..3).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for i in order {
        b.bind(tails[i]);
        let ret = match i {
            0 => stmt(BPF_RET | BPF_K, allow_value(rng)),
            1 => stmt(BPF_RET | BPF_K, 0),
            _ => stmt(BPF_RET | BPF_A, 0),
        };
        b.emit(ret);
    }
    b.finish()
}

/// A valid program whose verdicts differ between the contexts `ctxs`
/// (the requests of its opcode), allowing at least half of them, when one
/// of a few tries gives such a program (else one that splits them, else
/// any): both verdicts stay frequent, even under stacks of filters that
/// must all allow.
pub fn gen_valid(rng: &mut Rng, pool: &Pool, ctxs: &[Ctx]) -> Vec<SockFilter> {
    let mut best: Option<(u8, Vec<SockFilter>)> = None;
    for _ in 0..6 {
        let p = gen_program(rng, pool);
        let allowed = ctxs.iter().filter(|c| bpf::run(&p, c) != 0).count();
        let split = allowed > 0 && allowed < ctxs.len();
        let score = if ctxs.is_empty() || (split && 2 * allowed >= ctxs.len()) { 2 } else { split as u8 };
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, p));
        }
        if score == 2 {
            break;
        }
    }
    best.expect("at least one try").1
}

/// A valid program of exactly `len` instructions (at least the length of
/// the program it ends with): straight-line instructions that load nothing
/// from scratch memory and cannot return, then [`gen_valid`]'s program.
pub fn gen_long(rng: &mut Rng, pool: &Pool, ctxs: &[Ctx], len: usize) -> Vec<SockFilter> {
    let mut tail = gen_valid(rng, pool, ctxs);
    for _ in 0..50 {
        if tail.len() <= len {
            break;
        }
        tail = gen_program(rng, pool);
    }
    if tail.len() > len {
        tail = vec![stmt(BPF_RET | BPF_K, allow_value(rng))];
    }
    let mut p = Vec::with_capacity(len);
    while p.len() + tail.len() < len {
        let insn = match rng.below(8) {
            0 | 1 => {
                let op = rng.pick(&ALU_OPS);
                alu_k(rng, op, pool)
            }
            2 => stmt(BPF_LD | BPF_W | BPF_ABS, rng.pick(&LOAD_OFFSETS)),
            3 => stmt(BPF_ST, rng.below(BPF_MEMWORDS as u64) as u32),
            4 => stmt(
                rng.pick(&[BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, BPF_ALU | BPF_NEG, BPF_LD | BPF_W | BPF_LEN]),
                0,
            ),
            5 => stmt(BPF_LDX | BPF_IMM, pool.any(rng)),
            6 => stmt(BPF_JMP | BPF_JA, 0),
            _ => SockFilter::new(BPF_JMP | rng.pick(&JMP_OPS) | BPF_K, 0, 0, pool.any(rng)),
        };
        p.push(insn);
    }
    p.extend(tail);
    p
}

// ---- invalid programs ----------------------------------------------------

/// How [`mutate`] breaks a valid program; each is -EINVAL at registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// An instruction code outside the allowed set (LD IND, LDX MSH, LD H
    /// or B ABS, MOD, RET X, eBPF-only codes, or any other).
    ForbiddenCode,
    /// `LD W ABS` at an offset that is not 4-byte aligned.
    MisalignedLoad,
    /// `LD W ABS` at an aligned offset at or past 40 (ancillary offsets
    /// of socket filters included).
    LoadPastContext,
    /// A jump that leaves the program.
    JumpOut,
    /// The last instruction is not a return: the program can fall off its
    /// end.
    FallsOffEnd,
    /// A scratch word loaded before it is surely written.
    UninitMemory,
    /// `DIV K` by 0.
    DivByZero,
    /// `LSH`/`RSH K` by 32 or more.
    ShiftTooFar,
    /// A scratch word index past `BPF_MEMWORDS`.
    MemIndex,
}

pub const MUTATIONS: [Mutation; 9] = [
    Mutation::ForbiddenCode,
    Mutation::MisalignedLoad,
    Mutation::LoadPastContext,
    Mutation::JumpOut,
    Mutation::FallsOffEnd,
    Mutation::UninitMemory,
    Mutation::DivByZero,
    Mutation::ShiftTooFar,
    Mutation::MemIndex,
];

/// Classic BPF codes the uapi forbids, beside random ones.
const FORBIDDEN: [u16; 16] = [
    BPF_LD | BPF_W | BPF_IND,
    BPF_LD | BPF_H | BPF_IND,
    BPF_LD | BPF_B | BPF_IND,
    BPF_LDX | BPF_B | BPF_MSH,
    BPF_LD | BPF_H | BPF_ABS,
    BPF_LD | BPF_B | BPF_ABS,
    BPF_LDX | BPF_W | BPF_ABS,
    BPF_ALU | BPF_MOD | BPF_K,
    BPF_ALU | BPF_MOD | BPF_X,
    BPF_RET | BPF_X,
    BPF_LD | BPF_H | BPF_IMM,
    BPF_ALU | BPF_NEG | BPF_X,
    BPF_JMP | 0x50,  // eBPF JNE
    BPF_ALU | 0xc0,  // eBPF ARSH
    BPF_RET | 0x100, // RET K with a bit past the byte
    BPF_LDX | BPF_W | BPF_IND,
];

fn forbidden_code(rng: &mut Rng) -> u16 {
    if rng.chance(2, 3) {
        return rng.pick(&FORBIDDEN);
    }
    loop {
        let c = if rng.chance(1, 2) { rng.below(0x100) as u16 } else { rng.next_u64() as u16 };
        if !code_allowed(c) {
            return c;
        }
    }
}

/// Break the valid program `p` as `m` says. The result fails
/// [`bpf::validate`] (the tests check which error each gives).
pub fn mutate(rng: &mut Rng, p: &mut Vec<SockFilter>, m: Mutation) {
    let prepend = |p: &mut Vec<SockFilter>, insns: &[SockFilter]| {
        // Jumps are relative and go forward: a prefix moves them all alike.
        p.splice(0..0, insns.iter().copied());
    };
    match m {
        Mutation::ForbiddenCode => {
            let code = forbidden_code(rng);
            if rng.chance(1, 2) {
                let pc = rng.below(p.len() as u64) as usize;
                p[pc].code = code;
            } else {
                prepend(p, &[SockFilter::new(code, 0, 0, rng.below(40) as u32)]);
            }
        }
        Mutation::MisalignedLoad => {
            let k = 4 * rng.below(10) as u32 + 1 + rng.below(3) as u32;
            prepend(p, &[stmt(BPF_LD | BPF_W | BPF_ABS, k)]);
        }
        Mutation::LoadPastContext => {
            // 0xfffff000 is SKF_AD_OFF + SKF_AD_PROTOCOL, an ancillary load
            // the BPF core accepts for socket filters.
            let k = rng.pick(&[40, 44, 48, 64, 0x100, 0x1000, 0xffff_f000, 0xffff_f004, 0xffff_fffc, 0x8000_0000]);
            prepend(p, &[stmt(BPF_LD | BPF_W | BPF_ABS, k)]);
        }
        Mutation::JumpOut => {
            let n = p.len();
            let jumps: Vec<usize> = (0..n).filter(|&pc| p[pc].code & 7 == BPF_JMP && n - pc - 1 <= 255).collect();
            if !jumps.is_empty() && rng.chance(1, 2) {
                // Retarget an existing jump just past the end, or further.
                let pc = rng.pick(&jumps);
                let out = n - pc - 1 + rng.below((256 - (n - pc - 1)) as u64).min(2) as usize;
                if p[pc].code == BPF_JMP | BPF_JA {
                    p[pc].k = out as u32;
                } else if rng.chance(1, 2) {
                    p[pc].jt = out as u8;
                } else {
                    p[pc].jf = out as u8;
                }
            } else if n <= 255 && rng.chance(1, 2) {
                // After the prefix the program has n + 1 instructions: an
                // offset of n or more from pc 0 leaves it.
                let out = (n + rng.below((256 - n) as u64).min(3) as usize) as u8;
                let (jt, jf) = if rng.chance(1, 2) { (out, 0) } else { (0, out) };
                prepend(p, &[SockFilter::new(BPF_JMP | rng.pick(&JMP_OPS) | BPF_K, jt, jf, 0)]);
            } else {
                let k = rng.pick(&[n as u32, n as u32 + 1, u32::MAX]);
                prepend(p, &[stmt(BPF_JMP | BPF_JA, k)]);
            }
        }
        Mutation::FallsOffEnd => {
            let insn = stmt(
                rng.pick(&[
                    BPF_ALU | BPF_ADD | BPF_K,
                    BPF_LD | BPF_IMM,
                    BPF_MISC | BPF_TAX,
                    BPF_MISC | BPF_TXA,
                    BPF_ALU | BPF_NEG,
                    BPF_LD | BPF_W | BPF_LEN,
                ]),
                1,
            );
            if rng.chance(1, 2) {
                let last = p.len() - 1;
                p[last] = insn;
            } else {
                p.push(insn);
            }
        }
        Mutation::UninitMemory => {
            let k = rng.below(BPF_MEMWORDS as u64) as u32;
            let load = stmt(if rng.chance(1, 2) { BPF_LD | BPF_MEM } else { BPF_LDX | BPF_MEM }, k);
            if rng.chance(1, 2) {
                prepend(p, &[load]);
            } else {
                // Written on one path only.
                prepend(p, &[SockFilter::new(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), stmt(BPF_ST, k), load]);
            }
        }
        Mutation::DivByZero => prepend(p, &[stmt(BPF_ALU | BPF_DIV | BPF_K, 0)]),
        Mutation::ShiftTooFar => {
            let op = if rng.chance(1, 2) { BPF_LSH } else { BPF_RSH };
            prepend(p, &[stmt(BPF_ALU | op | BPF_K, rng.pick(&[32, 33, 63, 255, u32::MAX]))]);
        }
        Mutation::MemIndex => {
            let code = rng.pick(&[BPF_ST, BPF_STX, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM]);
            prepend(p, &[stmt(code, rng.pick(&[16, 17, 255, u32::MAX]))]);
        }
    }
}

// ---- registrations -------------------------------------------------------

/// What `filter_ptr` points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Insns {
    /// A buffer of instructions; the kernel reads the first `filter_len`
    /// (the generator keeps `filter_len` within the buffer unless it is 0
    /// or past `BPF_MAXINSNS`, when the kernel must read nothing).
    Buf(Vec<SockFilter>),
    /// A null `filter_ptr`.
    Null,
    /// These instructions, then memory that faults (a `PROT_NONE` page):
    /// `filter_len` is longer than the readable part.
    Fault(Vec<SockFilter>),
}

/// One `IORING_REGISTER_BPF_FILTER` call: `struct io_uring_bpf` field by
/// field, `nr_args`, and whether the struct itself is unreadable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub nr_args: u32,
    /// The argument points to memory that faults.
    pub arg_fault: bool,
    pub cmd_type: u16,
    pub cmd_flags: u16,
    pub resv: u32,
    pub opcode: u32,
    pub flags: u32,
    pub filter_len: u32,
    pub pdu_size: u8,
    pub filter_resv: [u8; 3],
    pub resv2: [u64; 5],
    pub insns: Insns,
    /// Whether the program is one an earlier registration of the ring
    /// used (not counted again as a program).
    pub reused: bool,
    /// What the generator meant (for diagnostics).
    pub note: String,
}

impl Registration {
    /// A well-formed registration of `prog` for `opcode`.
    pub fn new(opcode: u32, flags: u32, pdu_size: u8, prog: Vec<SockFilter>) -> Registration {
        Registration {
            nr_args: 1,
            arg_fault: false,
            cmd_type: IO_URING_BPF_CMD_FILTER,
            cmd_flags: 0,
            resv: 0,
            opcode,
            flags,
            filter_len: prog.len() as u32,
            pdu_size,
            filter_resv: [0; 3],
            resv2: [0; 5],
            insns: Insns::Buf(prog),
            reused: false,
            note: String::new(),
        }
    }

    /// The program the kernel reads, when `filter_ptr` points to one and
    /// `filter_len` is in range.
    pub fn program(&self) -> Option<&[SockFilter]> {
        let n = self.filter_len as usize;
        match &self.insns {
            Insns::Buf(b) if (1..=BPF_MAXINSNS).contains(&n) && n <= b.len() => Some(&b[..n]),
            _ => None,
        }
    }

    /// Whether this registration carries a program that passes the
    /// validator (whatever its other fields).
    pub fn program_valid(&self) -> bool {
        self.program().is_some_and(|p| bpf::validate(p).is_ok())
    }

    /// The registration's fields, for diagnostics.
    pub fn describe(&self) -> String {
        let ptr = match &self.insns {
            Insns::Buf(b) => format!("a buffer of {} instructions", b.len()),
            Insns::Null => "null".to_string(),
            Insns::Fault(r) => format!("{} readable instructions, then a PROT_NONE page", r.len()),
        };
        let op = if self.opcode < 256 { opcodes::opcode_label(self.opcode as u8) } else { format!("{}", self.opcode) };
        format!(
            "opcode {op}, flags {:#x}, filter_len {}, pdu_size {}, filter_ptr {ptr}; cmd_type {}, cmd_flags {}, resv {}, \
             filter.resv {:?}, resv2 {:?}, nr_args {}{} ({})",
            self.flags,
            self.filter_len,
            self.pdu_size,
            self.cmd_type,
            self.cmd_flags,
            self.resv,
            self.filter_resv,
            self.resv2,
            self.nr_args,
            if self.arg_fault { ", the struct itself unreadable" } else { "" },
            self.note
        )
    }
}

/// The outcome of a registration: its errno (0 on success) and the
/// `pdu_size` the kernel wrote into the caller's struct, if it wrote one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub errno: i32,
    pub pdu_written: Option<u8>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno {
            0 => write!(f, "success")?,
            e => write!(f, "-{}", errno_name(e))?,
        }
        match self.pdu_written {
            Some(k) => write!(f, ", pdu_size {k} written back"),
            None => write!(f, ", pdu_size not written"),
        }
    }
}

/// The errno's name (`EINVAL`), or its number.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EINVAL => "EINVAL",
        libc::EFAULT => "EFAULT",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBADF => "EBADF",
        libc::EPERM => "EPERM",
        libc::EBUSY => "EBUSY",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// What the uapi says a ring-level registration gives, the checks in its
/// order ("Registering a filter"), for a kernel whose `IORING_OP_LAST` is
/// `op_last`, when the filters already on the opcode's path count
/// `path_cost` (each program's instructions plus 4, deny entries 0).
pub fn predict(r: &Registration, op_last: u32, path_cost: u32) -> Outcome {
    let fail = |errno| Outcome { errno, pdu_written: None };
    if r.nr_args != 1 {
        return fail(libc::EINVAL);
    }
    if r.arg_fault {
        return fail(libc::EFAULT);
    }
    if r.cmd_type != IO_URING_BPF_CMD_FILTER || r.cmd_flags != 0 || r.resv != 0 {
        return fail(libc::EINVAL);
    }
    let resv_zero = r.filter_resv.iter().all(|&b| b == 0) && r.resv2.iter().all(|&w| w == 0);
    if r.opcode >= op_last || r.flags & !IO_URING_BPF_FILTER_FLAGS != 0 || !resv_zero {
        return fail(libc::EINVAL);
    }
    if r.filter_len == 0 || r.filter_len as usize > BPF_MAXINSNS {
        return fail(libc::EINVAL);
    }
    // The checks before the negotiation passed: K is written back, whatever
    // follows.
    let k = opcodes::pdu_size(r.opcode as u8);
    let done = |errno| Outcome { errno, pdu_written: Some(k) };
    let strict = r.flags & IO_URING_BPF_FILTER_SZ_STRICT != 0;
    if !(r.pdu_size == k || (!strict && r.pdu_size < k)) {
        return done(libc::EMSGSIZE);
    }
    let prog = match &r.insns {
        Insns::Null => return done(libc::EINVAL),
        Insns::Fault(_) => return done(libc::EFAULT),
        Insns::Buf(_) => r.program().expect("filter_len within the buffer"),
    };
    if bpf::validate(prog).is_err() {
        return done(libc::EINVAL);
    }
    if r.filter_len + path_cost > MAX_INSNS_PER_PATH {
        return done(libc::ENOMEM);
    }
    done(0)
}

// ---- a ring's filter set -------------------------------------------------

/// The filter set of one ring as its registrations build it: the verdicts
/// are [`FilterSet`]'s (newest first, every program must return non-zero,
/// a deny entry denies), the path bound is counted per opcode.
#[derive(Clone, Debug)]
pub struct RingModel {
    set: FilterSet,
    /// Per opcode: the programs, oldest first.
    programs: Vec<Vec<Vec<SockFilter>>>,
    /// Per opcode: whether a DENY_REST gave it the deny entry.
    deny: Vec<bool>,
    /// Per opcode: what its path counts towards the bound.
    cost: Vec<u32>,
}

impl Default for RingModel {
    fn default() -> RingModel {
        RingModel::new()
    }
}

impl RingModel {
    pub fn new() -> RingModel {
        RingModel { set: FilterSet::new(), programs: vec![Vec::new(); 256], deny: vec![false; 256], cost: vec![0; 256] }
    }

    /// What registering `r` now gives.
    pub fn predict(&self, r: &Registration, op_last: u32) -> Outcome {
        let cost = self.cost.get(r.opcode as usize).copied().unwrap_or(0);
        predict(r, op_last, cost)
    }

    /// Add the filter of `r` as a successful registration does. Returns
    /// false (and changes nothing) when `r` carries no program to add.
    pub fn install(&mut self, r: &Registration) -> bool {
        let (Some(prog), Ok(op)) = (r.program(), u8::try_from(r.opcode)) else { return false };
        let op = op as usize;
        self.set.add(op as u8, r.flags, prog);
        self.programs[op].push(prog.to_vec());
        self.cost[op] += prog.len() as u32 + PATH_COST_PER_FILTER;
        if r.flags & IO_URING_BPF_FILTER_DENY_REST != 0 {
            for o in 0..256 {
                if self.programs[o].is_empty() {
                    self.deny[o] = true;
                }
            }
        }
        true
    }

    /// Predict `r` and, if it succeeds, install it.
    pub fn register(&mut self, r: &Registration, op_last: u32) -> Outcome {
        let o = self.predict(r, op_last);
        if o.errno == 0 {
            self.install(r);
        }
        o
    }

    /// Whether the ring's filters allow a request with this context.
    pub fn allows(&self, ctx: &Ctx) -> bool {
        self.set.allows(ctx)
    }

    /// The programs on `opcode`, newest first, and whether its chain ends
    /// with the deny entry.
    pub fn chain(&self, opcode: u8) -> (Vec<&[SockFilter]>, bool) {
        let p = self.programs[opcode as usize].iter().rev().map(|p| p.as_slice()).collect();
        (p, self.deny[opcode as usize])
    }

    /// Whether programs decide on `ctx` (its opcode has programs and no
    /// deny entry), rather than the absence of filters or a deny entry.
    pub fn programs_decide(&self, ctx: &Ctx) -> bool {
        let op = ctx.opcode() as usize;
        !self.programs[op].is_empty() && !self.deny[op]
    }

    /// How many filters the ring has.
    pub fn filters(&self) -> usize {
        self.programs.iter().map(Vec::len).sum()
    }

    /// Why the model decides as it does on `ctx`, for diagnostics: each
    /// program of the chain, newest first, its disassembly and its return
    /// value, and the deny entry.
    pub fn explain(&self, ctx: &Ctx) -> Vec<String> {
        let (chain, deny) = self.chain(ctx.opcode());
        let mut out = vec![format!(
            "{} on {}: {} program(s){}",
            ctx_description(ctx),
            opcodes::opcode_label(ctx.opcode()),
            chain.len(),
            if deny { ", then the deny entry of DENY_REST" } else { "" }
        )];
        for (i, p) in chain.iter().enumerate() {
            out.push(format!("filter {i} (newest first) returns {:#x}:", bpf::run(p, ctx)));
            out.extend(listing(p).into_iter().map(|l| format!("  {l}")));
        }
        out
    }
}

/// A program's disassembly, one line an instruction.
pub fn listing(p: &[SockFilter]) -> Vec<String> {
    p.iter().enumerate().map(|(pc, insn)| format!("{pc:4}: {}", bpf::disasm(pc, insn))).collect()
}

/// A context's words, as filters load them.
pub fn ctx_description(ctx: &Ctx) -> String {
    let words: Vec<String> = (0..CTX_SIZE / 4).map(|i| format!("[{}] {:#x}", 4 * i, ctx.u32_at(4 * i))).collect();
    format!("context {ctx:?} (words {})", words.join(", "))
}

// ---- rings ---------------------------------------------------------------

/// One step of a ring's script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Register(Registration),
    Submit { req: Request, user_data: u64 },
}

/// A fresh ring, and what happens on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingCase {
    pub name: String,
    pub steps: Vec<Step>,
}

impl RingCase {
    pub fn registrations(&self) -> impl Iterator<Item = &Registration> {
        self.steps.iter().filter_map(|s| match s {
            Step::Register(r) => Some(r),
            Step::Submit { .. } => None,
        })
    }
}

/// The opcode of a registration: mostly one of [`FOCUS`], sometimes
/// another below Linux 7.0's `IORING_OP_LAST` (READ more often: the guest
/// submits it), sometimes one no kernel knows.
fn gen_opcode(rng: &mut Rng) -> u32 {
    let r = rng.below(100);
    if r < 80 {
        rng.pick(&FOCUS) as u32
    } else if r < 92 {
        if rng.chance(1, 2) { kcheck::IORING_OP_READ as u32 } else { rng.below(opcodes::IORING_OP_LAST as u64) as u32 }
    } else {
        rng.pick(&[
            opcodes::IORING_OP_LAST_6_12,
            opcodes::IORING_OP_LAST,
            100,
            255,
            256,
            256 + IORING_OP_OPENAT as u32,
            0x1_0000,
            1 << 31,
            u32::MAX,
        ])
    }
}

/// The `pdu_size` a registration asks for: 0, the kernel's size K, K - 1,
/// K + 1 or any.
fn gen_pdu_size(rng: &mut Rng, opcode: u32) -> u8 {
    let k = if opcode < 256 { opcodes::pdu_size(opcode as u8) } else { 0 };
    match rng.below(100) {
        0..35 => 0,
        35..80 => k,
        80..86 => k.wrapping_sub(1),
        86..92 => k.wrapping_add(1),
        _ => rng.next_u64() as u8,
    }
}

fn gen_flags(rng: &mut Rng) -> u32 {
    let mut f = 0;
    if rng.chance(1, 6) {
        f |= IO_URING_BPF_FILTER_DENY_REST;
    }
    if rng.chance(1, 4) {
        f |= IO_URING_BPF_FILTER_SZ_STRICT;
    }
    if rng.chance(1, 30) {
        let any = (rng.next_u64() as u32) & !3 | 4;
        f |= rng.pick(&[1 << 2, 1 << 3, 1 << 31, any]);
    }
    f
}

/// The contexts of the requests of `opcode` among `ctxs`.
fn of_opcode(ctxs: &[Ctx], opcode: u32) -> Vec<Ctx> {
    ctxs.iter().filter(|c| c.opcode() as u32 == opcode).copied().collect()
}

/// A random registration for a ring whose requests have the contexts
/// `ctxs`; `earlier` are the programs the ring's registrations used so far.
fn gen_registration(rng: &mut Rng, opcode: u32, ctxs: &[Ctx], earlier: &[Vec<SockFilter>]) -> Registration {
    let mine = of_opcode(ctxs, opcode);
    let pool = Pool::new(if mine.is_empty() { ctxs } else { &mine });
    let (mut prog, mut note, reused) = if !earlier.is_empty() && rng.chance(1, 10) {
        (earlier[rng.below(earlier.len() as u64) as usize].clone(), "an earlier program again".to_string(), true)
    } else {
        (gen_valid(rng, &pool, &mine), "valid program".to_string(), false)
    };
    let mut insns = None;
    let mut filter_len = None;
    if !reused && rng.chance(1, 4) {
        match rng.below(100) {
            0..70 => {
                let m = rng.pick(&MUTATIONS);
                mutate(rng, &mut prog, m);
                note = format!("program mutated: {m:?}");
            }
            70..76 => {
                filter_len = Some(0);
                note = "filter_len 0".into();
            }
            76..82 => {
                if rng.chance(1, 2) {
                    let len = BPF_MAXINSNS + 1 + rng.below(8) as usize;
                    prog = gen_long(rng, &pool, &mine, len);
                } else {
                    // The kernel must refuse it before reading: a length that
                    // a 16-bit truncation would bring into range.
                    let wraps = 0x1_0000 + prog.len() as u32;
                    filter_len = Some(rng.pick(&[wraps, u32::MAX, 0x1_0001]));
                }
                note = "filter_len past BPF_MAXINSNS".into();
            }
            82..88 => {
                insns = Some(Insns::Null);
                note = "null filter_ptr".into();
            }
            88..94 => {
                let readable = rng.below(prog.len() as u64) as usize;
                filter_len = Some(prog.len() as u32);
                prog.truncate(readable);
                insns = Some(Insns::Fault(prog.clone()));
                note = format!("instructions fault after {readable}");
            }
            _ => {
                filter_len = Some(rng.below(prog.len() as u64) as u32);
                note = "filter_len shorter than the program".into();
            }
        }
    }
    let mut r = Registration::new(opcode, gen_flags(rng), gen_pdu_size(rng, opcode), prog.clone());
    r.reused = reused;
    if let Some(n) = filter_len {
        r.filter_len = n;
    }
    if let Some(i) = insns {
        r.insns = i;
    }
    // Bad fields of the struct, each now and then.
    match rng.below(50) {
        0 => r.cmd_type = rng.pick(&[0, 2, 0xffff]),
        1 => r.cmd_flags = 1 << rng.below(16),
        2 => r.resv = 1 << rng.below(32),
        3 => r.filter_resv[rng.below(3) as usize] = 1 << rng.below(8),
        4 => r.resv2[rng.below(5) as usize] = 1 << rng.below(64),
        5 => r.nr_args = rng.pick(&[0, 2, u32::MAX]),
        6 | 7 => r.arg_fault = true,
        _ => {}
    }
    if r.flags != 0 || r.pdu_size != 0 {
        note += &format!(", flags {:#x}, pdu_size {}", r.flags, r.pdu_size);
    }
    r.note = note;
    r
}

/// Unique random user_data for `n` requests: the upper word from a few
/// values, the lower one often small, so that user_data tests split the
/// requests in many ways.
fn gen_user_data(rng: &mut Rng, n: usize) -> Vec<u64> {
    let highs: Vec<u32> =
        (0..1 + rng.below(3)).map(|_| if rng.chance(1, 3) { 0 } else { rng.next_u64() as u32 }).collect();
    let mut out: Vec<u64> = Vec::with_capacity(n);
    while out.len() < n {
        let lo = if rng.chance(1, 3) { rng.below(64) } else { rng.next_u64() & 0xffff_ffff };
        let ud = (rng.pick(&highs) as u64) << 32 | lo;
        if !out.contains(&ud) {
            out.push(ud);
        }
    }
    out
}

/// The contexts of `reqs` (with their forced IOSQE_ASYNC; the drain is
/// left out: these only steer the constants).
fn contexts(reqs: &[Request], uds: &[u64]) -> Vec<Ctx> {
    reqs.iter()
        .zip(uds)
        .map(|(r, &ud)| {
            let mut c = r.ctx(ud);
            if r.forced_async() {
                c.set_sqe_flags(r.sqe_flags | IOSQE_ASYNC);
            }
            c
        })
        .collect()
}

/// `n` requests from `kcheck`'s generator, three in four of them of the
/// opcodes in `ops` that the guest submits (the generator aims at the
/// opcodes a policy has rules for: here rules that allow).
fn requests_for(rng: &mut Rng, ops: &[u32], n: usize) -> Vec<Request> {
    let rules = ops.iter().filter_map(|&op| u8::try_from(op).ok()).map(|op| (op, Rule::Allow)).collect();
    let aim = Policy { default: Action::Allow, rules, restrict: None };
    kcheck::gen_requests(rng, &[&aim], n)
}

/// A ring of mixed registrations (2 to 7, a quarter of them with an invalid
/// program) interleaved with `nreq` requests.
pub fn gen_mixed_ring(rng: &mut Rng, nreq: usize) -> Vec<Step> {
    let ops: Vec<u32> = (0..2 + rng.below(6)).map(|_| gen_opcode(rng)).collect();
    let reqs = requests_for(rng, &ops, nreq);
    let uds = gen_user_data(rng, nreq);
    let ctxs = contexts(&reqs, &uds);
    let mut earlier = Vec::new();
    let mut regs = Vec::new();
    for (i, &op) in ops.iter().enumerate() {
        let r = gen_registration(rng, op, &ctxs, &earlier);
        if let Insns::Buf(b) = &r.insns {
            earlier.push(b.clone());
        }
        // Before request `at` (or after the last): the first before every
        // request, the others mostly so. Registrations keep their order:
        // one waits for those generated before it.
        let at = if i == 0 || rng.chance(1, 2) { 0 } else { rng.below(nreq as u64 + 1) as usize };
        regs.push((at, r));
    }
    let mut steps = Vec::new();
    let mut regs = regs.into_iter().peekable();
    for (i, (req, user_data)) in reqs.into_iter().zip(uds).enumerate() {
        while let Some((_, r)) = regs.next_if(|(at, _)| *at <= i) {
            steps.push(Step::Register(r));
        }
        steps.push(Step::Submit { req, user_data });
    }
    steps.extend(regs.map(|(_, r)| Step::Register(r)));
    steps
}

/// A ring for the path bound: long programs (3900 to 4096 instructions)
/// stacked on one opcode until the bound refuses one (-ENOMEM, nothing
/// changed), then one a single instruction too long for what is left and
/// one that fills the path exactly. With `deny_first`, a DENY_REST filter
/// on another opcode first gives the opcode its deny entry, which counts
/// nothing.
pub fn gen_path_ring(rng: &mut Rng, nreq: usize, deny_first: bool) -> Vec<Step> {
    let op = rng.pick(&FOCUS) as u32;
    let reqs = requests_for(rng, &[op], nreq);
    let uds = gen_user_data(rng, nreq);
    let ctxs = contexts(&reqs, &uds);
    let mine = of_opcode(&ctxs, op);
    let pool = Pool::new(if mine.is_empty() { &ctxs } else { &mine });
    let mut model = RingModel::new();
    let mut regs = Vec::new();
    if deny_first {
        let other = rng.pick(&FOCUS.iter().map(|&o| o as u32).filter(|&o| o != op).collect::<Vec<_>>());
        let mut r = Registration::new(other, IO_URING_BPF_FILTER_DENY_REST, 0, gen_valid(rng, &pool, &[]));
        r.note = "DENY_REST, before the long programs".into();
        regs.push(r);
    }
    let k = opcodes::pdu_size(op as u8);
    for i in 0..10 {
        let len = 3900 + rng.below(197) as usize;
        let mut r = Registration::new(op, 0, if rng.chance(1, 2) { k } else { 0 }, gen_long(rng, &pool, &mine, len));
        r.note = format!("long program {} of 10", i + 1);
        regs.push(r);
    }
    // What the bound leaves: the generator knows, as the model does (the
    // opcodes are below every kernel's IORING_OP_LAST).
    for r in &regs {
        model.register(r, opcodes::IORING_OP_LAST_6_12);
    }
    let left = MAX_INSNS_PER_PATH - model.cost[op as usize];
    let min = gen_program(rng, &pool).len() + 1;
    if left as usize >= min {
        for (len, what) in [(left + 1, "one instruction past the bound"), (left, "fills the path exactly")] {
            let mut r = Registration::new(op, 0, 0, gen_long(rng, &pool, &mine, len as usize));
            r.note = format!("{len} instructions: {what}");
            regs.push(r);
        }
    }
    let mut steps: Vec<Step> = regs.into_iter().map(Step::Register).collect();
    steps.extend(reqs.into_iter().zip(uds).map(|(req, user_data)| Step::Submit { req, user_data }));
    steps
}

/// The rings of a run: mostly mixed rings; every twelfth, from the sixth
/// on, a path-bound ring.
pub fn gen_rings(seed: u64, rings: usize, nreq: usize) -> Vec<RingCase> {
    let mut rng = Rng::new(seed);
    (0..rings)
        .map(|i| {
            let (name, steps) = if i % 12 == 5 {
                ("path bound", gen_path_ring(&mut rng, nreq, i % 24 == 17))
            } else {
                ("mixed", gen_mixed_ring(&mut rng, nreq))
            };
            let n = steps.iter().filter(|s| matches!(s, Step::Register(_))).count();
            RingCase { name: format!("ring {}: {name}, {n} registrations, {nreq} requests", i + 1), steps }
        })
        .collect()
}

// ---- the whole run, on the model alone -----------------------------------

/// What a run does, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub programs: usize,
    pub valid: usize,
    pub registrations: usize,
    /// Registrations by errno (0 for success), ascending.
    pub by_errno: Vec<(i32, usize)>,
    /// Registrations where the kernel writes `pdu_size` back.
    pub written: usize,
    pub requests: usize,
    pub denied: usize,
    /// Requests that programs decide on ([`RingModel::programs_decide`]):
    /// (allowed, denied).
    pub by_programs: (usize, usize),
}

impl Counts {
    pub fn count_registration(&mut self, r: &Registration, got: i32, written: bool) {
        self.registrations += 1;
        if !r.reused {
            self.programs += 1;
            self.valid += r.program_valid() as usize;
        }
        match self.by_errno.iter_mut().find(|(e, _)| *e == got) {
            Some((_, n)) => *n += 1,
            None => {
                self.by_errno.push((got, 1));
                self.by_errno.sort_unstable();
            }
        }
        self.written += written as usize;
    }

    /// Count a request with the model's verdict.
    pub fn count_request(&mut self, model: &RingModel, ctx: &Ctx, allowed: bool) {
        self.requests += 1;
        self.denied += !allowed as usize;
        if model.programs_decide(ctx) {
            if allowed {
                self.by_programs.0 += 1;
            } else {
                self.by_programs.1 += 1;
            }
        }
    }

    pub fn errnos(&self) -> String {
        let v: Vec<String> = self
            .by_errno
            .iter()
            .map(|&(e, n)| if e == 0 { format!("{n} installed") } else { format!("{n} -{}", errno_name(e)) })
            .collect();
        v.join(", ")
    }
}

/// Run `cases` on the model alone, as the kernel would if it agreed
/// everywhere: what the guest's run counts (for the host tests).
pub fn simulate(cases: &[RingCase], op_last: u32) -> Counts {
    let mut c = Counts::default();
    for case in cases {
        let mut model = RingModel::new();
        let mut drain = Drain::default();
        for s in &case.steps {
            match s {
                Step::Register(r) => {
                    let o = model.register(r, op_last);
                    c.count_registration(r, o.errno, o.pdu_written.is_some());
                }
                Step::Submit { req, user_data } => {
                    let ctx = drain.ctx(req, *user_data);
                    let allowed = model.allows(&ctx);
                    drain.after(allowed, false);
                    c.count_request(&model, &ctx, allowed);
                }
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kcheck::Req;

    const OP_LAST: u32 = opcodes::IORING_OP_LAST_6_12;

    fn ret(k: u32) -> SockFilter {
        stmt(BPF_RET | BPF_K, k)
    }

    /// Every context the guest's requests can have, roughly: the mixed
    /// rings' contexts.
    fn some_contexts(rng: &mut Rng) -> Vec<Ctx> {
        let reqs = kcheck::gen_requests(rng, &[], 24);
        let uds = gen_user_data(rng, 24);
        contexts(&reqs, &uds)
    }

    #[test]
    fn generator_is_deterministic() {
        let a = gen_rings(42, 30, 12);
        assert_eq!(a, gen_rings(42, 30, 12));
        assert_ne!(a, gen_rings(43, 30, 12));
        assert_eq!(a.len(), 30);
        // The path-bound rings are where the run says.
        assert!(a[5].name.contains("path bound") && a[17].name.contains("path bound"));
        assert_eq!(a.iter().filter(|c| c.name.contains("path bound")).count(), 3);
    }

    #[test]
    fn valid_programs_pass_the_validator_and_cover_every_class() {
        let mut rng = Rng::new(1);
        let mut codes = std::collections::BTreeSet::new();
        for _ in 0..400 {
            let ctxs = some_contexts(&mut rng);
            let pool = Pool::new(&ctxs);
            for _ in 0..10 {
                let p = gen_valid(&mut rng, &pool, &ctxs);
                assert_eq!(bpf::validate(&p), Ok(()), "{}", listing(&p).join("\n"));
                codes.extend(p.iter().map(|i| i.code));
            }
        }
        let allowed: Vec<u16> = (0..=0xffffu16).filter(|&c| code_allowed(c)).collect();
        let missing: Vec<String> =
            allowed.iter().filter(|c| !codes.contains(c)).map(|&c| bpf::disasm(0, &stmt(c, 0))).collect();
        assert!(missing.is_empty(), "never generated: {missing:?}");
        assert!(codes.iter().all(|&c| code_allowed(c)));
    }

    #[test]
    fn long_programs_have_their_length_and_are_valid() {
        let mut rng = Rng::new(2);
        let ctxs = some_contexts(&mut rng);
        let pool = Pool::new(&ctxs);
        for len in [40, 736, 3900, 4096, 4097, 4100] {
            let p = gen_long(&mut rng, &pool, &ctxs, len);
            assert_eq!(p.len(), len);
            if len <= BPF_MAXINSNS {
                assert_eq!(bpf::validate(&p), Ok(()));
            } else {
                assert_eq!(bpf::validate(&p), Err(ValidateError::BadLength(len)));
            }
        }
    }

    #[test]
    fn mutated_programs_fail_the_validator_as_meant() {
        let mut rng = Rng::new(3);
        let ctxs = some_contexts(&mut rng);
        let pool = Pool::new(&ctxs);
        for m in MUTATIONS {
            for _ in 0..300 {
                let mut p = gen_valid(&mut rng, &pool, &ctxs);
                mutate(&mut rng, &mut p, m);
                let e = bpf::validate(&p).expect_err(&format!("{m:?} left it valid:\n{}", listing(&p).join("\n")));
                let meant = match m {
                    Mutation::ForbiddenCode => matches!(e, ValidateError::BadCode { .. }),
                    Mutation::MisalignedLoad | Mutation::LoadPastContext => {
                        matches!(e, ValidateError::BadLoadOffset { pc: 0, .. })
                    }
                    Mutation::JumpOut => matches!(e, ValidateError::JumpOutOfRange { .. }),
                    Mutation::FallsOffEnd => e == ValidateError::NoFinalRet,
                    Mutation::UninitMemory => matches!(e, ValidateError::UninitMemRead { .. }),
                    Mutation::DivByZero => e == ValidateError::DivByZeroK { pc: 0 },
                    Mutation::ShiftTooFar => matches!(e, ValidateError::BadShift { pc: 0, .. }),
                    Mutation::MemIndex => matches!(e, ValidateError::BadMemIndex { pc: 0, .. }),
                };
                assert!(meant, "{m:?} gave {e:?}");
            }
        }
    }

    #[test]
    fn programs_split_the_requests() {
        // Most programs allow some requests of their opcode and deny others.
        let mut rng = Rng::new(4);
        let (mut split, mut total) = (0, 0);
        for _ in 0..300 {
            let ctxs = some_contexts(&mut rng);
            let op = rng.pick(&FOCUS) as u32;
            let mine = of_opcode(&ctxs, op);
            if mine.len() < 2 {
                continue;
            }
            let p = gen_valid(&mut rng, &Pool::new(&mine), &mine);
            let allowed = mine.iter().filter(|c| bpf::run(&p, c) != 0).count();
            split += (allowed > 0 && allowed < mine.len()) as usize;
            total += 1;
        }
        assert!(split * 10 > total * 7, "{split} of {total} programs split their requests");
    }

    fn reg(opcode: u32, flags: u32, pdu_size: u8) -> Registration {
        Registration::new(opcode, flags, pdu_size, vec![ret(1)])
    }

    fn out(errno: i32, pdu_written: Option<u8>) -> Outcome {
        Outcome { errno, pdu_written }
    }

    #[test]
    fn predictor_follows_the_uapi_order() {
        let socket = IORING_OP_SOCKET as u32;
        let p = |r: &Registration| predict(r, OP_LAST, 0);
        assert_eq!(p(&reg(socket, 0, 12)), out(0, Some(12)));
        // nr_args first, then the copy of the struct.
        let mut r = reg(socket, 0, 12);
        r.nr_args = 2;
        r.arg_fault = true;
        assert_eq!(p(&r), out(libc::EINVAL, None));
        r.nr_args = 1;
        assert_eq!(p(&r), out(libc::EFAULT, None));
        // The header before anything in the filter.
        let mut r = reg(socket, 0, 13);
        r.cmd_type = 2;
        r.filter_len = 0;
        assert_eq!(p(&r), out(libc::EINVAL, None));
        // Opcode, flags and reserved fields: -EINVAL before the length and
        // the negotiation, nothing written.
        for bad in [
            Registration { opcode: OP_LAST, ..reg(socket, 0, 99) },
            Registration { opcode: 256 + IORING_OP_NOP as u32, ..reg(socket, 0, 0) },
            reg(socket, 4, 99),
            Registration { filter_resv: [0, 1, 0], ..reg(socket, 0, 99) },
            Registration { resv2: [0, 0, 0, 0, 1], ..reg(socket, 0, 99) },
            Registration { resv: 1, ..reg(socket, 0, 99) },
            Registration { cmd_flags: 1, ..reg(socket, 0, 99) },
        ] {
            assert_eq!(p(&bad), out(libc::EINVAL, None), "{}", bad.describe());
        }
        // Length before the negotiation: nothing written.
        for n in [0, 4097, 0x1_0001] {
            let r = Registration { filter_len: n, ..reg(socket, 0, 99) };
            assert_eq!(p(&r), out(libc::EINVAL, None));
        }
        // Negotiation: K written back whatever follows.
        assert_eq!(p(&reg(socket, 0, 13)), out(libc::EMSGSIZE, Some(12)));
        assert_eq!(p(&reg(socket, 0, 11)), out(0, Some(12)));
        assert_eq!(p(&reg(socket, 0, 0)), out(0, Some(12)));
        assert_eq!(p(&reg(socket, IO_URING_BPF_FILTER_SZ_STRICT, 11)), out(libc::EMSGSIZE, Some(12)));
        assert_eq!(p(&reg(socket, IO_URING_BPF_FILTER_SZ_STRICT, 12)), out(0, Some(12)));
        assert_eq!(p(&reg(IORING_OP_NOP as u32, IO_URING_BPF_FILTER_SZ_STRICT, 0)), out(0, Some(0)));
        assert_eq!(p(&reg(IORING_OP_NOP as u32, 0, 1)), out(libc::EMSGSIZE, Some(0)));
        assert_eq!(p(&reg(IORING_OP_CONNECT as u32, 0, 25)), out(libc::EMSGSIZE, Some(24)));
        // The negotiation before the instructions.
        let null = Registration { insns: Insns::Null, ..reg(socket, 0, 13) };
        assert_eq!(p(&null), out(libc::EMSGSIZE, Some(12)));
        assert_eq!(p(&Registration { pdu_size: 12, ..null }), out(libc::EINVAL, Some(12)));
        let fault = Registration { insns: Insns::Fault(vec![]), ..reg(socket, 0, 12) };
        assert_eq!(p(&fault), out(libc::EFAULT, Some(12)));
        let bad_prog = Registration::new(socket, 0, 12, vec![stmt(BPF_LD | BPF_W | BPF_IND, 0), ret(1)]);
        assert_eq!(p(&bad_prog), out(libc::EINVAL, Some(12)));
        let short =
            Registration { filter_len: 1, ..Registration::new(socket, 0, 12, vec![stmt(BPF_LD | BPF_IMM, 1), ret(1)]) };
        assert_eq!(p(&short), out(libc::EINVAL, Some(12)), "the kernel reads filter_len instructions only");
        // The path bound last, deny entries counting nothing.
        let r = reg(socket, 0, 12);
        assert_eq!(predict(&r, OP_LAST, MAX_INSNS_PER_PATH - 1), out(0, Some(12)));
        assert_eq!(predict(&r, OP_LAST, MAX_INSNS_PER_PATH), out(libc::ENOMEM, Some(12)));
        let bad_and_long = Registration { insns: Insns::Null, ..r };
        assert_eq!(predict(&bad_and_long, OP_LAST, MAX_INSNS_PER_PATH), out(libc::EINVAL, Some(12)));
        // The kernel's IORING_OP_LAST decides which opcodes exist.
        assert_eq!(p(&reg(60, 0, 0)), out(libc::EINVAL, None));
        assert_eq!(predict(&reg(60, 0, 0), 65, 0), out(0, Some(0)));
    }

    #[test]
    fn path_bound_counts_programs_and_not_deny_entries() {
        let mut m = RingModel::new();
        let big = |n: usize| Registration::new(IORING_OP_NOP as u32, 0, 0, vec![ret(1); n]);
        let deny = Registration::new(IORING_OP_SOCKET as u32, IO_URING_BPF_FILTER_DENY_REST, 0, vec![ret(1)]);
        assert_eq!(m.register(&deny, OP_LAST).errno, 0);
        for _ in 0..7 {
            assert_eq!(m.register(&big(4096), OP_LAST).errno, 0);
        }
        // 7 * 4100 = 28700 on the path: 4068 more fit, 4069 do not.
        assert_eq!(m.register(&big(4069), OP_LAST).errno, libc::ENOMEM);
        assert_eq!(m.filters(), 8, "a refused filter changes nothing");
        assert_eq!(m.register(&big(4068), OP_LAST).errno, 0);
        assert_eq!(m.register(&big(1), OP_LAST).errno, libc::ENOMEM);
        // Other opcodes have paths of their own.
        assert_eq!(m.register(&Registration::new(22, 0, 0, vec![ret(1); 4096]), OP_LAST).errno, 0);
    }

    #[test]
    fn model_newest_first_all_must_allow_and_deny_rest() {
        let mut m = RingModel::new();
        let nop = Ctx::new(IORING_OP_NOP);
        let mut nop_ud = Ctx::new(IORING_OP_NOP);
        nop_ud.set_user_data(7);
        let socket = Ctx::socket(2, 1, 0);
        let read = Ctx::new(kcheck::IORING_OP_READ);
        // No filters: everything allowed.
        assert!(m.allows(&nop) && m.allows(&socket));
        // Allow only user_data 7 on NOP.
        let ud7 = vec![
            stmt(BPF_LD | BPF_W | BPF_ABS, 0),
            SockFilter::new(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 7),
            ret(1),
            ret(0),
        ];
        assert_eq!(m.register(&Registration::new(0, 0, 0, ud7), OP_LAST).errno, 0);
        assert!(!m.allows(&nop) && m.allows(&nop_ud));
        // A second NOP filter that returns A (the opcode, 0): denies all.
        let ret_a_opcode =
            vec![stmt(BPF_LD | BPF_W | BPF_ABS, 8), stmt(BPF_ALU | BPF_AND | BPF_K, 0xff), stmt(BPF_RET | BPF_A, 0)];
        // An invalid registration changes nothing, DENY_REST or not.
        let mut bad = Registration::new(0, IO_URING_BPF_FILTER_DENY_REST, 0, ret_a_opcode.clone());
        bad.pdu_size = 1;
        assert_eq!(m.register(&bad, OP_LAST), out(libc::EMSGSIZE, Some(0)));
        assert!(m.allows(&nop_ud) && m.allows(&socket));
        // DENY_REST on NOP: SOCKET and READ get deny entries, NOP none.
        let r = Registration::new(0, IO_URING_BPF_FILTER_DENY_REST, 0, ret_a_opcode);
        assert_eq!(m.register(&r, OP_LAST).errno, 0);
        assert!(!m.allows(&nop_ud), "every filter must allow");
        assert!(!m.allows(&socket) && !m.allows(&read));
        assert!(!m.chain(IORING_OP_NOP).1);
        // A filter on a denied opcode does not lift the deny.
        let allow = Registration::new(IORING_OP_SOCKET as u32, 0, 12, vec![ret(1)]);
        assert_eq!(m.register(&allow, OP_LAST).errno, 0);
        assert!(!m.allows(&socket));
        let (chain, deny) = m.chain(IORING_OP_SOCKET);
        assert_eq!((chain.len(), deny), (1, true));
        // Newest first: the newest denies, the older (allow) never matters.
        assert!(m.explain(&socket)[0].contains("then the deny entry"));
    }

    #[test]
    fn deny_rest_spares_opcodes_with_older_filters() {
        let mut m = RingModel::new();
        let read = Ctx::new(kcheck::IORING_OP_READ);
        assert_eq!(m.register(&Registration::new(22, 0, 0, vec![ret(5)]), OP_LAST).errno, 0);
        assert_eq!(m.register(&Registration::new(0, IO_URING_BPF_FILTER_DENY_REST, 0, vec![ret(1)]), OP_LAST).errno, 0);
        assert!(m.allows(&read));
        assert!(m.allows(&Ctx::new(IORING_OP_NOP)));
        assert!(!m.allows(&Ctx::new(IORING_OP_OPENAT)));
    }

    #[test]
    fn div_by_x_zero_denies() {
        let mut m = RingModel::new();
        let p = vec![stmt(BPF_LD | BPF_IMM, 5), stmt(BPF_ALU | BPF_DIV | BPF_X, 0), ret(1)];
        assert_eq!(m.register(&Registration::new(0, 0, 0, p), OP_LAST).errno, 0);
        assert!(!m.allows(&Ctx::new(IORING_OP_NOP)));
    }

    /// The run `make test` does, on the model: every kind of outcome
    /// occurs, both verdicts are frequent.
    #[test]
    fn default_run_exercises_everything() {
        for seed in [DEFAULT_SEED, 1, 2, 3] {
            let cases = gen_rings(seed, DEFAULT_RINGS, DEFAULT_REQUESTS);
            let c = simulate(&cases, OP_LAST);
            let errnos: Vec<i32> = c.by_errno.iter().map(|&(e, _)| e).collect();
            for e in [0, libc::EINVAL, libc::EMSGSIZE, libc::EFAULT, libc::ENOMEM] {
                assert!(errnos.contains(&e), "seed {seed}: no {} in {}", errno_name(e), c.errnos());
            }
            let installed = c.by_errno[0].1;
            assert!(installed * 5 > c.registrations * 2, "seed {seed}: {}", c.errnos());
            assert!(c.written > 0 && c.written < c.registrations);
            assert!(c.valid * 10 > c.programs * 6 && c.valid < c.programs, "{c:?}");
            assert!(c.denied * 5 > c.requests && c.denied * 5 < c.requests * 4, "seed {seed}: {c:?}");
            assert_eq!(c.requests, DEFAULT_RINGS * DEFAULT_REQUESTS);
            let (a, d) = c.by_programs;
            assert!(a * 20 > c.requests && d * 20 > c.requests, "seed {seed}: programs decide {a} / {d}");
        }
    }

    /// Contexts of requests: the drain model's, so a program on word 8
    /// sees the flags the kernel holds.
    #[test]
    fn simulate_uses_the_drain() {
        let req = Request { sqe_flags: crate::abi::IOSQE_IO_DRAIN, req: Req::Nop };
        // Deny a NOP that has IOSQE_ASYNC (0x10 in byte 9 of the context).
        let word8 = vec![
            stmt(BPF_LD | BPF_W | BPF_ABS, 8),
            SockFilter::new(BPF_JMP | BPF_JSET | BPF_K, 0, 1, u32::from_ne_bytes([0, 0x10, 0, 0])),
            ret(0),
            ret(1),
        ];
        let case = RingCase {
            name: "drain".into(),
            steps: vec![
                Step::Register(Registration::new(0, 0, 0, word8)),
                Step::Submit { req, user_data: 1 },
                Step::Submit { req: Request { sqe_flags: 0, req: Req::Nop }, user_data: 2 },
            ],
        };
        let c = simulate(&[case], OP_LAST);
        // The drained NOP is denied (forced async), and the drain stays
        // active after a denial: the next is denied too.
        assert_eq!((c.requests, c.denied), (2, 2));
    }

    /// The validator of "Programs" written again from the uapi text,
    /// independently of [`bpf::validate`]: the allowed codes as the spec
    /// lists them, context loads aligned below 40, jumps inside the
    /// program, a return at the end, and the checks a seccomp user gets
    /// from the BPF core (no division by the constant 0, no shift by 32 or
    /// more, scratch indices below 16, no scratch word loaded on a path
    /// where it was not stored; the core's pass, like the kernel's, also
    /// counts the instruction after a return as following it).
    fn spec_validate(p: &[SockFilter]) -> bool {
        let alu =
            |op: u16| [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH].contains(&op);
        let jmp = |op: u16| [BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET].contains(&op);
        let n = p.len();
        if n == 0 || n > 4096 {
            return false;
        }
        // Scratch words surely stored before each instruction, over every
        // path to it (the fall-through of a return included).
        let mut before = vec![None::<u16>; n];
        before[0] = Some(0);
        for (pc, i) in p.iter().enumerate() {
            let (c, k) = (i.code, i.k);
            let class = c & 7;
            let ok = match class {
                BPF_RET => c == BPF_RET | BPF_K || c == BPF_RET | BPF_A,
                BPF_ALU => {
                    (c & !0xf8 == BPF_ALU && alu(c & 0xf0) && c & 0xff00 == 0 && (c & 0x08 == 0 || c & 0x08 == BPF_X))
                        || c == BPF_ALU | BPF_NEG
                }
                BPF_JMP => c == BPF_JMP | BPF_JA || (c & 0xff00 == 0 && jmp(c & 0xf0)),
                BPF_LD => [BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LD | BPF_MEM]
                    .contains(&c),
                BPF_LDX => [BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM].contains(&c),
                BPF_ST | BPF_STX => c == class,
                _ => c == BPF_MISC | BPF_TAX || c == BPF_MISC | BPF_TXA,
            };
            if !ok {
                return false;
            }
            if c == BPF_LD | BPF_W | BPF_ABS && (k % 4 != 0 || k >= 40) {
                return false;
            }
            if (c == BPF_ALU | BPF_DIV | BPF_K && k == 0)
                || ((c == BPF_ALU | BPF_LSH | BPF_K || c == BPF_ALU | BPF_RSH | BPF_K) && k >= 32)
            {
                return false;
            }
            let mem = [BPF_ST, BPF_STX, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM].contains(&c);
            if mem && k >= 16 {
                return false;
            }
            let targets: Vec<u64> = if c == BPF_JMP | BPF_JA {
                vec![pc as u64 + 1 + k as u64]
            } else if class == BPF_JMP {
                vec![(pc + 1 + i.jt as usize) as u64, (pc + 1 + i.jf as usize) as u64]
            } else {
                vec![pc as u64 + 1]
            };
            if targets.iter().any(|&t| t >= n as u64) && (class == BPF_JMP || pc + 1 < n) {
                return false;
            }
            let Some(mut w) = before[pc] else { continue }; // unreachable
            if (c == BPF_LD | BPF_MEM || c == BPF_LDX | BPF_MEM) && w & (1 << k) == 0 {
                return false;
            }
            if c == BPF_ST || c == BPF_STX {
                w |= 1 << k;
            }
            for t in targets.into_iter().filter(|&t| t < n as u64) {
                let t = t as usize;
                before[t] = Some(before[t].map_or(w, |b| b & w));
            }
        }
        let last = p[n - 1].code;
        last == BPF_RET | BPF_K || last == BPF_RET | BPF_A
    }

    /// A random program of random instructions, mostly allowed ones.
    fn random_program(rng: &mut Rng) -> Vec<SockFilter> {
        let n = 1 + rng.below(12) as usize;
        (0..n)
            .map(|pc| {
                let code = if rng.chance(1, 10) {
                    rng.next_u64() as u16 & if rng.chance(1, 2) { 0xff } else { 0xffff }
                } else {
                    loop {
                        let c = rng.below(0x100) as u16;
                        if code_allowed(c) {
                            break c;
                        }
                    }
                };
                let k = match rng.below(4) {
                    0 => rng.below(48) as u32,
                    1 => rng.below((n - pc) as u64 + 1) as u32,
                    2 => rng.pick(&[0, 16, 31, 32, 40, u32::MAX]),
                    _ => rng.below(16) as u32,
                };
                let j = |rng: &mut Rng| rng.below((n - pc) as u64 + 1) as u8;
                let (jt, jf) = (j(rng), j(rng));
                SockFilter::new(code, jt, jf, k)
            })
            .collect()
    }

    /// `bpf::validate` and the validator written from the uapi agree on
    /// random instruction sequences and on the generator's programs, valid
    /// and mutated.
    #[test]
    fn validator_agrees_with_the_uapi() {
        let mut rng = Rng::new(5);
        let ctxs = some_contexts(&mut rng);
        let pool = Pool::new(&ctxs);
        let (mut valid, mut total) = (0, 0);
        for i in 0..200_000 {
            let p = match i % 4 {
                0 | 1 => random_program(&mut rng),
                2 => gen_program(&mut rng, &pool),
                _ => {
                    let mut p = gen_program(&mut rng, &pool);
                    let m = rng.pick(&MUTATIONS);
                    mutate(&mut rng, &mut p, m);
                    p
                }
            };
            let want = spec_validate(&p);
            assert_eq!(bpf::validate(&p).is_ok(), want, "{:?}\n{}", bpf::validate(&p), listing(&p).join("\n"));
            valid += want as usize;
            total += 1;
        }
        assert!(valid * 4 > total && valid * 4 < total * 3, "{valid} of {total} valid");
    }
}
