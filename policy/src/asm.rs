//! A small classic BPF assembler with forward labels.
//!
//! Instructions are appended in order; jump targets are either the next
//! instruction or a [`Label`] bound later with [`Asm::bind`]. `finish`
//! resolves the offsets and fails on backward or unbound labels and on
//! conditional jumps further than 255 instructions. Every instruction may
//! carry a comment, used by `--explain`.

use crate::abi::SockFilter;
use crate::bpf::*;
use std::fmt;

/// A forward jump target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Where a jump goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The following instruction (offset 0).
    Next,
    /// A label, bound at or after the following instruction.
    To(Label),
}

impl From<Label> for Target {
    fn from(l: Label) -> Target {
        Target::To(l)
    }
}

/// Conditional jump operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
}

/// Assembler errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsmError {
    /// A label used as a target was never bound.
    UnboundLabel { pc: usize },
    /// A label is bound at or before the jump that uses it (cBPF jumps
    /// only go forward).
    BackwardJump { pc: usize },
    /// A conditional jump's offset does not fit in 8 bits.
    JumpTooFar { pc: usize, offset: usize },
    /// A label was bound twice.
    Rebound,
    /// A label bound past the last instruction (nothing to jump to).
    LabelAtEnd { pc: usize },
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsmError::UnboundLabel { pc } => write!(f, "insn {pc}: jump to a label never bound"),
            AsmError::BackwardJump { pc } => {
                write!(f, "insn {pc}: backward jump (cBPF jumps go forward only)")
            }
            AsmError::JumpTooFar { pc, offset } => write!(f, "insn {pc}: conditional jump offset {offset} exceeds 255"),
            AsmError::Rebound => write!(f, "label bound twice"),
            AsmError::LabelAtEnd { pc } => {
                write!(f, "insn {pc}: jump to a label bound after the last instruction")
            }
        }
    }
}

impl std::error::Error for AsmError {}

#[derive(Clone, Debug)]
struct Pending {
    code: u16,
    k: u32,
    jt: Target,
    jf: Target,
    comment: String,
}

/// The assembler.
#[derive(Clone, Debug, Default)]
pub struct Asm {
    insns: Vec<Pending>,
    labels: Vec<Option<usize>>,
    rebound: bool,
}

/// An assembled program with one comment per instruction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub insns: Vec<SockFilter>,
    pub comments: Vec<String>,
}

impl Program {
    /// Listing: one line per instruction, with comments.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for (pc, insn) in self.insns.iter().enumerate() {
            let text = disasm(pc, insn);
            let c = self.comments.get(pc).map(String::as_str).unwrap_or("");
            if c.is_empty() {
                out.push_str(&format!("  {pc:4}: {text}\n"));
            } else {
                out.push_str(&format!("  {pc:4}: {text:<28} ; {c}\n"));
            }
        }
        out
    }
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Number of instructions so far.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// A new, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Bind `l` to the next instruction to be emitted.
    pub fn bind(&mut self, l: Label) {
        let slot = &mut self.labels[l.0];
        if slot.is_some() {
            self.rebound = true;
        }
        *slot = Some(self.insns.len());
    }

    fn push(&mut self, code: u16, k: u32, jt: Target, jf: Target, comment: &str) -> &mut Self {
        self.insns.push(Pending { code, k, jt, jf, comment: comment.to_string() });
        self
    }

    /// Emit a raw instruction without jumps.
    pub fn raw(&mut self, code: u16, k: u32, comment: &str) -> &mut Self {
        self.push(code, k, Target::Next, Target::Next, comment)
    }

    /// `A = ctx[k]` (32-bit native-endian word).
    pub fn ld_abs(&mut self, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_LD | BPF_W | BPF_ABS, k, comment)
    }
    /// `A = k`.
    pub fn ld_imm(&mut self, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_LD | BPF_IMM, k, comment)
    }
    /// `X = k`.
    pub fn ldx_imm(&mut self, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_LDX | BPF_IMM, k, comment)
    }
    /// `A = M[k]`.
    pub fn ld_mem(&mut self, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_LD | BPF_MEM, k, comment)
    }
    /// `X = M[k]`.
    pub fn ldx_mem(&mut self, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_LDX | BPF_MEM, k, comment)
    }
    /// `M[k] = A`.
    pub fn st(&mut self, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_ST, k, comment)
    }
    /// `M[k] = X`.
    pub fn stx(&mut self, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_STX, k, comment)
    }
    /// `X = A`.
    pub fn tax(&mut self, comment: &str) -> &mut Self {
        self.raw(BPF_MISC | BPF_TAX, 0, comment)
    }
    /// `A = X`.
    pub fn txa(&mut self, comment: &str) -> &mut Self {
        self.raw(BPF_MISC | BPF_TXA, 0, comment)
    }
    /// `A = A op k` (op one of BPF_ADD .. BPF_XOR).
    pub fn alu_k(&mut self, op: u16, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_ALU | op | BPF_K, k, comment)
    }
    /// `A = A op X`.
    pub fn alu_x(&mut self, op: u16, comment: &str) -> &mut Self {
        self.raw(BPF_ALU | op | BPF_X, 0, comment)
    }
    /// `return k`.
    pub fn ret_k(&mut self, k: u32, comment: &str) -> &mut Self {
        self.raw(BPF_RET | BPF_K, k, comment)
    }
    /// `return A`.
    pub fn ret_a(&mut self, comment: &str) -> &mut Self {
        self.raw(BPF_RET | BPF_A, 0, comment)
    }
    /// Unconditional jump.
    pub fn ja(&mut self, to: impl Into<Target>, comment: &str) -> &mut Self {
        let t = to.into();
        self.push(BPF_JMP | BPF_JA, 0, t, Target::Next, comment)
    }
    /// `if A cond k goto jt else goto jf`.
    pub fn jmp_k(
        &mut self,
        cond: Cond,
        k: u32,
        jt: impl Into<Target>,
        jf: impl Into<Target>,
        comment: &str,
    ) -> &mut Self {
        self.push(BPF_JMP | cond_op(cond) | BPF_K, k, jt.into(), jf.into(), comment)
    }
    /// `if A cond X goto jt else goto jf`.
    pub fn jmp_x(&mut self, cond: Cond, jt: impl Into<Target>, jf: impl Into<Target>, comment: &str) -> &mut Self {
        self.push(BPF_JMP | cond_op(cond) | BPF_X, 0, jt.into(), jf.into(), comment)
    }

    fn offset(&self, pc: usize, t: Target) -> Result<usize, AsmError> {
        match t {
            Target::Next => Ok(0),
            Target::To(l) => {
                let at = self.labels[l.0].ok_or(AsmError::UnboundLabel { pc })?;
                if at <= pc {
                    return Err(AsmError::BackwardJump { pc });
                }
                if at >= self.insns.len() {
                    return Err(AsmError::LabelAtEnd { pc });
                }
                Ok(at - pc - 1)
            }
        }
    }

    /// Resolve labels and produce the program.
    pub fn finish(&self) -> Result<Program, AsmError> {
        if self.rebound {
            return Err(AsmError::Rebound);
        }
        let mut prog = Program::default();
        for (pc, p) in self.insns.iter().enumerate() {
            let mut insn = SockFilter::new(p.code, 0, 0, p.k);
            if p.code == BPF_JMP | BPF_JA {
                let off = self.offset(pc, p.jt)?;
                insn.k = u32::try_from(off).map_err(|_| AsmError::JumpTooFar { pc, offset: off })?;
            } else if p.code & 7 == BPF_JMP {
                let jt = self.offset(pc, p.jt)?;
                let jf = self.offset(pc, p.jf)?;
                for off in [jt, jf] {
                    if off > 255 {
                        return Err(AsmError::JumpTooFar { pc, offset: off });
                    }
                }
                insn.jt = jt as u8;
                insn.jf = jf as u8;
            }
            prog.insns.push(insn);
            prog.comments.push(p.comment.clone());
        }
        Ok(prog)
    }
}

fn cond_op(c: Cond) -> u16 {
    match c {
        Cond::Eq => BPF_JEQ,
        Cond::Gt => BPF_JGT,
        Cond::Ge => BPF_JGE,
        Cond::Set => BPF_JSET,
    }
}
