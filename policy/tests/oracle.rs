//! The reference evaluator.
use iou_policy::abi::SockFilter;
use iou_policy::bpf::*;

fn i(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter::new(code, jt, jf, k)
}
const RET_A: SockFilter = SockFilter::new(BPF_RET | BPF_A, 0, 0, 0);

fn run_ok(p: &[SockFilter], c: &Ctx) -> u32 {
    validate(p).unwrap();
    run(p, c)
}

#[test]
fn ld_abs_is_native_endian_word() {
    let mut c = Ctx::default();
    c.0[16..20].copy_from_slice(&[1, 2, 3, 4]);
    let p = [i(BPF_LD | BPF_W | BPF_ABS, 0, 0, 16), RET_A];
    assert_eq!(run_ok(&p, &c), u32::from_ne_bytes([1, 2, 3, 4]));
}

#[test]
fn len_is_40() {
    let p = [i(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0), RET_A];
    assert_eq!(run_ok(&p, &Ctx::default()), 40);
    let p = [i(BPF_LDX | BPF_W | BPF_LEN, 0, 0, 0), i(BPF_MISC | BPF_TXA, 0, 0, 0), RET_A];
    assert_eq!(run_ok(&p, &Ctx::default()), 40);
}

#[test]
fn header_fields() {
    let mut c = Ctx::new(22);
    c.set_sqe_flags(0x11).set_user_data(0x1122_3344_5566_7788);
    let s = c.to_struct();
    assert_eq!(s.opcode, 22);
    assert_eq!(s.sqe_flags, 0x11);
    assert_eq!(s.user_data, 0x1122_3344_5566_7788);
    // opcode/sqe_flags/pdu_size as one native word at 8
    let p = [i(BPF_LD | BPF_W | BPF_ABS, 0, 0, 8), RET_A];
    assert_eq!(run_ok(&p, &c), u32::from_ne_bytes([22, 0x11, 0, 0]));
}

fn alu(op: u16, a: u32, k: u32) -> u32 {
    let p = [i(BPF_LD | BPF_IMM, 0, 0, a), i(BPF_ALU | op | BPF_K, 0, 0, k), RET_A];
    let r = run_ok(&p, &Ctx::default());
    let px = [i(BPF_LDX | BPF_IMM, 0, 0, k), i(BPF_LD | BPF_IMM, 0, 0, a), i(BPF_ALU | op | BPF_X, 0, 0, 0), RET_A];
    assert_eq!(run_ok(&px, &Ctx::default()), r, "K and X forms agree");
    r
}

#[test]
fn alu_is_32_bit_wrapping() {
    assert_eq!(alu(BPF_ADD, u32::MAX, 2), 1);
    assert_eq!(alu(BPF_SUB, 1, 2), u32::MAX);
    assert_eq!(alu(BPF_MUL, 0x8000_0001, 2), 2);
    assert_eq!(alu(BPF_DIV, 7, 2), 3);
    assert_eq!(alu(BPF_DIV, u32::MAX, 1), u32::MAX);
    assert_eq!(alu(BPF_AND, 0xf0f0, 0xff00), 0xf000);
    assert_eq!(alu(BPF_OR, 0xf0, 0x0f), 0xff);
    assert_eq!(alu(BPF_XOR, 0xff, 0x0f), 0xf0);
    assert_eq!(alu(BPF_LSH, 1, 31), 0x8000_0000);
    assert_eq!(alu(BPF_RSH, 0x8000_0000, 31), 1);
    let p = [i(BPF_LD | BPF_IMM, 0, 0, 5), i(BPF_ALU | BPF_NEG, 0, 0, 0), RET_A];
    assert_eq!(run_ok(&p, &Ctx::default()), 5u32.wrapping_neg());
}

#[test]
fn shift_by_x_uses_low_five_bits() {
    let p =
        [i(BPF_LDX | BPF_IMM, 0, 0, 33), i(BPF_LD | BPF_IMM, 0, 0, 1), i(BPF_ALU | BPF_LSH | BPF_X, 0, 0, 0), RET_A];
    assert_eq!(run_ok(&p, &Ctx::default()), 2);
}

#[test]
fn division_by_zero_x_returns_zero_from_the_program() {
    let p = [
        i(BPF_LDX | BPF_IMM, 0, 0, 0),
        i(BPF_LD | BPF_IMM, 0, 0, 100),
        i(BPF_ALU | BPF_DIV | BPF_X, 0, 0, 0),
        i(BPF_RET | BPF_K, 0, 0, 1),
    ];
    assert_eq!(run_ok(&p, &Ctx::default()), 0);
}

#[test]
fn jumps() {
    // A = 5; tests against K and X.
    let cases = [
        (BPF_JEQ, 5, true),
        (BPF_JEQ, 4, false),
        (BPF_JGT, 4, true),
        (BPF_JGT, 5, false),
        (BPF_JGE, 5, true),
        (BPF_JGE, 6, false),
        (BPF_JSET, 4, true),
        (BPF_JSET, 2, false),
    ];
    for (op, k, taken) in cases {
        let want = if taken { 11 } else { 22 };
        let p = [
            i(BPF_LD | BPF_IMM, 0, 0, 5),
            i(BPF_JMP | op | BPF_K, 0, 1, k),
            i(BPF_RET | BPF_K, 0, 0, 11),
            i(BPF_RET | BPF_K, 0, 0, 22),
        ];
        assert_eq!(run_ok(&p, &Ctx::default()), want, "{op:#x} k");
        let p = [
            i(BPF_LDX | BPF_IMM, 0, 0, k),
            i(BPF_LD | BPF_IMM, 0, 0, 5),
            i(BPF_JMP | op | BPF_X, 0, 1, 0),
            i(BPF_RET | BPF_K, 0, 0, 11),
            i(BPF_RET | BPF_K, 0, 0, 22),
        ];
        assert_eq!(run_ok(&p, &Ctx::default()), want, "{op:#x} x");
    }
    let p = [i(BPF_JMP | BPF_JA, 0, 0, 1), i(BPF_RET | BPF_K, 0, 0, 1), i(BPF_RET | BPF_K, 0, 0, 2)];
    assert_eq!(run_ok(&p, &Ctx::default()), 2);
}

#[test]
fn scratch_memory_and_registers() {
    let p = [
        i(BPF_LD | BPF_IMM, 0, 0, 7),
        i(BPF_ST, 0, 0, 4),
        i(BPF_LDX | BPF_IMM, 0, 0, 9),
        i(BPF_STX, 0, 0, 5),
        i(BPF_LD | BPF_MEM, 0, 0, 5),
        i(BPF_LDX | BPF_MEM, 0, 0, 4),
        i(BPF_ALU | BPF_SUB | BPF_X, 0, 0, 0),
        RET_A,
    ];
    assert_eq!(run_ok(&p, &Ctx::default()), 2);
    let p = [
        i(BPF_LD | BPF_IMM, 0, 0, 3),
        i(BPF_MISC | BPF_TAX, 0, 0, 0),
        i(BPF_LD | BPF_IMM, 0, 0, 0),
        i(BPF_MISC | BPF_TXA, 0, 0, 0),
        RET_A,
    ];
    assert_eq!(run_ok(&p, &Ctx::default()), 3);
}

#[test]
fn ctx_builders_follow_the_abi() {
    let c = Ctx::connect(2, 443, &[10, 1, 2, 3]);
    assert_eq!(&c.0[16..28], &[&2u32.to_ne_bytes()[..], &[1, 187, 0, 0], &[10, 1, 2, 3]].concat()[..]);
    assert_eq!(c.0[10], 24, "pdu_size");
    let s = Ctx::socket(10, 1, 6);
    assert_eq!(s.0[10], 12);
    assert_eq!(s.u32_at(20), 1);
    let o = Ctx::open(18, 0x1_0000_0040, 0o644, 0);
    assert_eq!(o.u64_at(16), 0x1_0000_0040);
    assert_eq!(o.to_struct().pdu[0..8], 0x1_0000_0040u64.to_ne_bytes());
}
