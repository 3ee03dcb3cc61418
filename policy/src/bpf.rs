//! Classic BPF: instruction encoding, the reference validator (the
//! "Programs" section of `Documentation/userspace-api/io_uring_bpf_filter.rst`),
//! the reference evaluator ("Evaluation") and a disassembler.
//!
//! The evaluator is the oracle for the kernel tests: it gives exactly the
//! result the kernel's classic BPF path gives for every program the
//! validator accepts.

use crate::abi::{BPF_MAXINSNS, BPF_MEMWORDS, CTX_SIZE, IoUringBpfCtx, SockFilter, ctx_off};
use crate::policy::{AF_INET, AF_INET6};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// Instruction classes.
pub const BPF_LD: u16 = 0x00;
pub const BPF_LDX: u16 = 0x01;
pub const BPF_ST: u16 = 0x02;
pub const BPF_STX: u16 = 0x03;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_MISC: u16 = 0x07;
// Sizes.
pub const BPF_W: u16 = 0x00;
pub const BPF_H: u16 = 0x08;
pub const BPF_B: u16 = 0x10;
// Modes.
pub const BPF_IMM: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_IND: u16 = 0x40;
pub const BPF_MEM: u16 = 0x60;
pub const BPF_LEN: u16 = 0x80;
pub const BPF_MSH: u16 = 0xa0;
// ALU operations.
pub const BPF_ADD: u16 = 0x00;
pub const BPF_SUB: u16 = 0x10;
pub const BPF_MUL: u16 = 0x20;
pub const BPF_DIV: u16 = 0x30;
pub const BPF_OR: u16 = 0x40;
pub const BPF_AND: u16 = 0x50;
pub const BPF_LSH: u16 = 0x60;
pub const BPF_RSH: u16 = 0x70;
pub const BPF_NEG: u16 = 0x80;
pub const BPF_MOD: u16 = 0x90;
pub const BPF_XOR: u16 = 0xa0;
// Jumps.
pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_JSET: u16 = 0x40;
// Sources.
pub const BPF_K: u16 = 0x00;
pub const BPF_X: u16 = 0x08;
pub const BPF_A: u16 = 0x10;
// MISC.
pub const BPF_TAX: u16 = 0x00;
pub const BPF_TXA: u16 = 0x80;

/// A 40-byte filter context, as raw bytes in the layout of
/// `struct io_uring_bpf_ctx`. Multi-byte fields are native-endian except
/// the CONNECT port (big-endian) and addresses (network order bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ctx(pub [u8; CTX_SIZE]);

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx([0; CTX_SIZE])
    }
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ctx(")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 && i % 8 == 0 {
                write!(f, " ")?;
            }
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl Ctx {
    /// A context for `opcode` with its pdu_size set as the kernel does.
    pub fn new(opcode: u8) -> Ctx {
        let mut c = Ctx([0; CTX_SIZE]);
        c.0[ctx_off::OPCODE] = opcode;
        c.0[ctx_off::PDU_SIZE] = crate::opcodes::pdu_size(opcode);
        c
    }
    pub fn opcode(&self) -> u8 {
        self.0[ctx_off::OPCODE]
    }
    pub fn sqe_flags(&self) -> u8 {
        self.0[ctx_off::SQE_FLAGS]
    }
    pub fn set_sqe_flags(&mut self, f: u8) -> &mut Self {
        self.0[ctx_off::SQE_FLAGS] = f;
        self
    }
    pub fn set_user_data(&mut self, v: u64) -> &mut Self {
        self.0[0..8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn u32_at(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[off..off + 4]);
        u32::from_ne_bytes(b)
    }
    pub fn u64_at(&self, off: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[off..off + 8]);
        u64::from_ne_bytes(b)
    }
    pub fn set_u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn set_u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    /// IORING_OP_SOCKET data.
    pub fn socket(family: u32, ty: u32, protocol: u32) -> Ctx {
        let mut c = Ctx::new(crate::opcodes::IORING_OP_SOCKET);
        c.set_u32(ctx_off::SOCKET_FAMILY, family)
            .set_u32(ctx_off::SOCKET_TYPE, ty)
            .set_u32(ctx_off::SOCKET_PROTOCOL, protocol);
        c
    }
    /// IORING_OP_OPENAT / OPENAT2 data.
    pub fn open(opcode: u8, flags: u64, mode: u64, resolve: u64) -> Ctx {
        let mut c = Ctx::new(opcode);
        c.set_u64(ctx_off::OPEN_FLAGS, flags).set_u64(ctx_off::OPEN_MODE, mode).set_u64(ctx_off::OPEN_RESOLVE, resolve);
        c
    }
    /// IORING_OP_CONNECT data; `addr` is in network order, at most 16 bytes.
    pub fn connect(family: u32, port: u16, addr: &[u8]) -> Ctx {
        let mut c = Ctx::new(crate::opcodes::IORING_OP_CONNECT);
        c.set_u32(ctx_off::CONNECT_FAMILY, family);
        c.0[ctx_off::CONNECT_PORT..ctx_off::CONNECT_PORT + 2].copy_from_slice(&port.to_be_bytes());
        let n = addr.len().min(16);
        c.0[ctx_off::CONNECT_ADDR..ctx_off::CONNECT_ADDR + n].copy_from_slice(&addr[..n]);
        c
    }
    pub fn connect_port(&self) -> u16 {
        u16::from_be_bytes([self.0[ctx_off::CONNECT_PORT], self.0[ctx_off::CONNECT_PORT + 1]])
    }
    pub fn connect_addr(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.0[ctx_off::CONNECT_ADDR..ctx_off::CONNECT_ADDR + 16]);
        a
    }
    /// The CONNECT address as its family reads it: the first 4 bytes for
    /// AF_INET, all 16 for AF_INET6; `None` for any other family.
    pub fn connect_ip(&self) -> Option<IpAddr> {
        let a = self.connect_addr();
        match self.u32_at(ctx_off::CONNECT_FAMILY) {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
            AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(a))),
            _ => None,
        }
    }
    /// Copy to the `repr(C)` struct.
    pub fn to_struct(&self) -> IoUringBpfCtx {
        let mut s = IoUringBpfCtx {
            user_data: self.u64_at(0),
            opcode: self.0[8],
            sqe_flags: self.0[9],
            pdu_size: self.0[10],
            ..Default::default()
        };
        s.pad.copy_from_slice(&self.0[11..16]);
        s.pdu.copy_from_slice(&self.0[16..40]);
        s
    }
}

/// Why the validator rejected a program (the kernel answers -EINVAL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidateError {
    /// filter_len is 0 or larger than BPF_MAXINSNS.
    BadLength(usize),
    /// Instruction code outside the allowed set.
    BadCode { pc: usize, code: u16 },
    /// `LD W ABS` with an offset that is unaligned or past the context.
    BadLoadOffset { pc: usize, k: u32 },
    /// Scratch memory index >= BPF_MEMWORDS.
    BadMemIndex { pc: usize, k: u32 },
    /// DIV by the constant 0.
    DivByZeroK { pc: usize },
    /// Shift by a constant >= 32.
    BadShift { pc: usize, k: u32 },
    /// A jump that leaves the program.
    JumpOutOfRange { pc: usize },
    /// The last instruction is not a RET, so the program can fall off its end.
    NoFinalRet,
    /// A scratch memory word may be read before it is written.
    UninitMemRead { pc: usize, k: u32 },
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidateError::BadLength(n) => {
                write!(f, "program has {n} instructions, must be 1..={BPF_MAXINSNS}")
            }
            ValidateError::BadCode { pc, code } => {
                write!(f, "insn {pc}: instruction code {code:#06x} is not allowed")
            }
            ValidateError::BadLoadOffset { pc, k } => {
                write!(f, "insn {pc}: load offset {k} must be 4-byte aligned and below {CTX_SIZE}")
            }
            ValidateError::BadMemIndex { pc, k } => {
                write!(f, "insn {pc}: scratch memory index {k} >= {BPF_MEMWORDS}")
            }
            ValidateError::DivByZeroK { pc } => write!(f, "insn {pc}: division by constant 0"),
            ValidateError::BadShift { pc, k } => write!(f, "insn {pc}: shift by {k} >= 32"),
            ValidateError::JumpOutOfRange { pc } => {
                write!(f, "insn {pc}: jump leaves the program")
            }
            ValidateError::NoFinalRet => {
                write!(f, "last instruction is not RET K or RET A: program can fall off its end")
            }
            ValidateError::UninitMemRead { pc, k } => {
                write!(f, "insn {pc}: M[{k}] may be read before it is written")
            }
        }
    }
}

impl std::error::Error for ValidateError {}

fn is_cond_jump(code: u16) -> bool {
    matches!(
        code,
        c if c == BPF_JMP | BPF_JEQ | BPF_K
            || c == BPF_JMP | BPF_JEQ | BPF_X
            || c == BPF_JMP | BPF_JGE | BPF_K
            || c == BPF_JMP | BPF_JGE | BPF_X
            || c == BPF_JMP | BPF_JGT | BPF_K
            || c == BPF_JMP | BPF_JGT | BPF_X
            || c == BPF_JMP | BPF_JSET | BPF_K
            || c == BPF_JMP | BPF_JSET | BPF_X
    )
}

/// Whether `code` is in the allowed instruction set ("Programs" in
/// `Documentation/userspace-api/io_uring_bpf_filter.rst`: the
/// seccomp set: RET K/A; ALU ADD SUB MUL DIV AND OR XOR LSH RSH with K and
/// X, NEG; LD W ABS; LD/LDX W LEN; LD/LDX IMM and MEM; ST; STX; TAX; TXA;
/// JA; JEQ JGE JGT JSET with K and X).
pub fn code_allowed(code: u16) -> bool {
    const ALU_OPS: [u16; 9] = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH];
    if code == BPF_RET | BPF_K || code == BPF_RET | BPF_A {
        return true;
    }
    if ALU_OPS.iter().any(|op| code == BPF_ALU | op | BPF_K || code == BPF_ALU | op | BPF_X) {
        return true;
    }
    if is_cond_jump(code) {
        return true;
    }
    [
        BPF_ALU | BPF_NEG,
        BPF_LD | BPF_W | BPF_ABS,
        BPF_LD | BPF_W | BPF_LEN,
        BPF_LDX | BPF_W | BPF_LEN,
        BPF_LD | BPF_IMM,
        BPF_LDX | BPF_IMM,
        BPF_LD | BPF_MEM,
        BPF_LDX | BPF_MEM,
        BPF_ST,
        BPF_STX,
        BPF_MISC | BPF_TAX,
        BPF_MISC | BPF_TXA,
        BPF_JMP | BPF_JA,
    ]
    .contains(&code)
}

/// The reference validator of "Programs" in
/// `Documentation/userspace-api/io_uring_bpf_filter.rst`: `Ok` exactly when the kernel
/// accepts the program, `Err` (the kernel's -EINVAL) otherwise.
pub fn validate(prog: &[SockFilter]) -> Result<(), ValidateError> {
    let len = prog.len();
    if len == 0 || len > BPF_MAXINSNS {
        return Err(ValidateError::BadLength(len));
    }
    for (pc, insn) in prog.iter().enumerate() {
        let code = insn.code;
        let k = insn.k;
        if !code_allowed(code) {
            return Err(ValidateError::BadCode { pc, code });
        }
        match code {
            c if c == BPF_ALU | BPF_DIV | BPF_K && k == 0 => {
                return Err(ValidateError::DivByZeroK { pc });
            }
            c if (c == BPF_ALU | BPF_LSH | BPF_K || c == BPF_ALU | BPF_RSH | BPF_K) && k >= 32 => {
                return Err(ValidateError::BadShift { pc, k });
            }
            c if (c == BPF_LD | BPF_MEM || c == BPF_LDX | BPF_MEM || c == BPF_ST || c == BPF_STX)
                && k as usize >= BPF_MEMWORDS =>
            {
                return Err(ValidateError::BadMemIndex { pc, k });
            }
            c if c == BPF_JMP | BPF_JA && k as u64 >= (len - pc - 1) as u64 => {
                return Err(ValidateError::JumpOutOfRange { pc });
            }
            c if is_cond_jump(c) && (pc + insn.jt as usize + 1 >= len || pc + insn.jf as usize + 1 >= len) => {
                return Err(ValidateError::JumpOutOfRange { pc });
            }
            c if c == BPF_LD | BPF_W | BPF_ABS && (k as usize >= CTX_SIZE || k & 3 != 0) => {
                return Err(ValidateError::BadLoadOffset { pc, k });
            }
            _ => {}
        }
    }
    let last = prog[len - 1].code;
    if last != BPF_RET | BPF_K && last != BPF_RET | BPF_A {
        return Err(ValidateError::NoFinalRet);
    }
    check_load_and_stores(prog)
}

/// Exactly the kernel's check_load_and_stores() (net/core/filter.c): a
/// linear pass that tracks which M[] words are surely written; a jump
/// narrows the set at its targets and resets the running set. (Like the
/// kernel, the running set is not reset after a RET.)
fn check_load_and_stores(prog: &[SockFilter]) -> Result<(), ValidateError> {
    let len = prog.len();
    let mut masks = vec![0xffffu16; len];
    let mut memvalid: u16 = 0;
    for pc in 0..len {
        memvalid &= masks[pc];
        let insn = prog[pc];
        let code = insn.code;
        if code == BPF_ST || code == BPF_STX {
            memvalid |= 1 << insn.k;
        } else if code == BPF_LD | BPF_MEM || code == BPF_LDX | BPF_MEM {
            if memvalid & (1 << insn.k) == 0 {
                return Err(ValidateError::UninitMemRead { pc, k: insn.k });
            }
        } else if code == BPF_JMP | BPF_JA {
            masks[pc + 1 + insn.k as usize] &= memvalid;
            memvalid = 0xffff;
        } else if is_cond_jump(code) {
            masks[pc + 1 + insn.jt as usize] &= memvalid;
            masks[pc + 1 + insn.jf as usize] &= memvalid;
            memvalid = 0xffff;
        }
    }
    Ok(())
}

/// Run a program over a context, as the kernel does. The program must have
/// passed [`validate`]; for other programs the result is unspecified (no
/// panic: unknown instructions and out-of-range jumps return 0).
///
/// Semantics: A and X start at 0; ALU is 32-bit wrapping; `DIV X` with
/// X == 0 makes the program return 0; shifts by X use the low 5 bits of X
/// (as the kernel's interpreter and JITs do); `LD W ABS k` loads the
/// native-endian word at byte k; `LEN` gives 40.
pub fn run(prog: &[SockFilter], ctx: &Ctx) -> u32 {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; BPF_MEMWORDS];
    let mut pc = 0usize;
    loop {
        let Some(insn) = prog.get(pc) else { return 0 };
        let k = insn.k;
        pc += 1;
        let code = insn.code;
        match code & 0x07 {
            BPF_RET => {
                return match code {
                    c if c == BPF_RET | BPF_K => k,
                    c if c == BPF_RET | BPF_A => a,
                    _ => 0,
                };
            }
            BPF_LD | BPF_LDX => {
                let v = match code & !0x07 {
                    m if m == BPF_W | BPF_ABS && code & 7 == BPF_LD => {
                        let off = k as usize;
                        if off + 4 > CTX_SIZE {
                            return 0;
                        }
                        ctx.u32_at(off)
                    }
                    m if m == BPF_W | BPF_LEN => CTX_SIZE as u32,
                    m if m == BPF_IMM => k,
                    m if m == BPF_MEM => match mem.get(k as usize) {
                        Some(v) => *v,
                        None => return 0,
                    },
                    _ => return 0,
                };
                if code & 7 == BPF_LD {
                    a = v;
                } else {
                    x = v;
                }
            }
            BPF_ST | BPF_STX => {
                if code & !0x07 != 0 {
                    return 0;
                }
                let v = if code == BPF_ST { a } else { x };
                match mem.get_mut(k as usize) {
                    Some(slot) => *slot = v,
                    None => return 0,
                }
            }
            BPF_ALU => {
                let op = code & 0xf0;
                let src = if code & BPF_X != 0 { x } else { k };
                a = match op {
                    BPF_ADD => a.wrapping_add(src),
                    BPF_SUB => a.wrapping_sub(src),
                    BPF_MUL => a.wrapping_mul(src),
                    BPF_DIV => {
                        if src == 0 {
                            return 0;
                        }
                        a / src
                    }
                    BPF_AND => a & src,
                    BPF_OR => a | src,
                    BPF_XOR => a ^ src,
                    BPF_LSH => a.wrapping_shl(src & 31),
                    BPF_RSH => a.wrapping_shr(src & 31),
                    BPF_NEG => a.wrapping_neg(),
                    _ => return 0,
                };
            }
            BPF_JMP => {
                let op = code & 0xf0;
                if op == BPF_JA {
                    pc = pc.saturating_add(k as usize);
                    continue;
                }
                let src = if code & BPF_X != 0 { x } else { k };
                let taken = match op {
                    BPF_JEQ => a == src,
                    BPF_JGT => a > src,
                    BPF_JGE => a >= src,
                    BPF_JSET => a & src != 0,
                    _ => return 0,
                };
                pc += if taken { insn.jt as usize } else { insn.jf as usize };
            }
            _ => {
                // BPF_MISC
                match code {
                    c if c == BPF_MISC | BPF_TAX => x = a,
                    c if c == BPF_MISC | BPF_TXA => a = x,
                    _ => return 0,
                }
            }
        }
    }
}

/// Disassemble one instruction at `pc` (jump targets shown as absolute
/// instruction numbers), in the style of the kernel's bpf_dbg.
pub fn disasm(pc: usize, insn: &SockFilter) -> String {
    let SockFilter { code, jt, jf, k } = *insn;
    let alu = |name: &str| {
        if code & BPF_X != 0 { format!("{name} x") } else { format!("{name} #{k:#x}") }
    };
    let tgt = |off: usize| pc + 1 + off;
    match code {
        c if c == BPF_RET | BPF_K => format!("ret #{k:#x}"),
        c if c == BPF_RET | BPF_A => "ret a".into(),
        c if c == BPF_LD | BPF_W | BPF_ABS => format!("ld [{k}]"),
        c if c == BPF_LD | BPF_W | BPF_LEN => "ld #len".into(),
        c if c == BPF_LDX | BPF_W | BPF_LEN => "ldx #len".into(),
        c if c == BPF_LD | BPF_IMM => format!("ld #{k:#x}"),
        c if c == BPF_LDX | BPF_IMM => format!("ldx #{k:#x}"),
        c if c == BPF_LD | BPF_MEM => format!("ld M[{k}]"),
        c if c == BPF_LDX | BPF_MEM => format!("ldx M[{k}]"),
        c if c == BPF_ST => format!("st M[{k}]"),
        c if c == BPF_STX => format!("stx M[{k}]"),
        c if c == BPF_MISC | BPF_TAX => "tax".into(),
        c if c == BPF_MISC | BPF_TXA => "txa".into(),
        c if c == BPF_ALU | BPF_NEG => "neg".into(),
        c if c == BPF_JMP | BPF_JA => format!("ja {}", tgt(k as usize)),
        c if c & 7 == BPF_ALU => {
            let name = match c & 0xf0 {
                BPF_ADD => "add",
                BPF_SUB => "sub",
                BPF_MUL => "mul",
                BPF_DIV => "div",
                BPF_AND => "and",
                BPF_OR => "or",
                BPF_XOR => "xor",
                BPF_LSH => "lsh",
                BPF_RSH => "rsh",
                BPF_MOD => "mod",
                _ => return format!(".insn {code:#06x}, {jt}, {jf}, {k:#x}"),
            };
            alu(name)
        }
        c if is_cond_jump(c) => {
            let name = match c & 0xf0 {
                BPF_JEQ => "jeq",
                BPF_JGT => "jgt",
                BPF_JGE => "jge",
                _ => "jset",
            };
            let src = if c & BPF_X != 0 { "x".to_string() } else { format!("#{k:#x}") };
            format!("{name} {src}, {}, {}", tgt(jt as usize), tgt(jf as usize))
        }
        _ => format!(".insn {code:#06x}, {jt}, {jf}, {k:#x}"),
    }
}
