//! The reference validator: one test per allowed and rejected class.
use iou_policy::abi::SockFilter;
use iou_policy::bpf::*;

fn i(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter::new(code, jt, jf, k)
}
const RET0: SockFilter = SockFilter::new(BPF_RET | BPF_K, 0, 0, 0);

fn ok(p: &[SockFilter]) {
    assert_eq!(validate(p), Ok(()), "{p:?}");
}
fn bad(p: &[SockFilter]) -> ValidateError {
    match validate(p) {
        Ok(()) => panic!("accepted {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn ret_k_and_a() {
    ok(&[RET0]);
    ok(&[i(BPF_RET | BPF_A, 0, 0, 0)]);
}

#[test]
fn ret_x_rejected() {
    assert!(matches!(bad(&[i(BPF_RET | BPF_X, 0, 0, 0)]), ValidateError::BadCode { .. }));
}

#[test]
fn alu_k_and_x_allowed() {
    for op in [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH] {
        ok(&[i(BPF_ALU | op | BPF_K, 0, 0, 3), RET0]);
        ok(&[i(BPF_ALU | op | BPF_X, 0, 0, 0), RET0]);
    }
    ok(&[i(BPF_ALU | BPF_NEG, 0, 0, 0), RET0]);
}

#[test]
fn mod_rejected() {
    assert!(matches!(bad(&[i(BPF_ALU | BPF_MOD | BPF_K, 0, 0, 3), RET0]), ValidateError::BadCode { pc: 0, .. }));
    assert!(matches!(bad(&[i(BPF_ALU | BPF_MOD | BPF_X, 0, 0, 0), RET0]), ValidateError::BadCode { .. }));
}

#[test]
fn div_by_constant_zero_rejected() {
    assert_eq!(bad(&[i(BPF_ALU | BPF_DIV | BPF_K, 0, 0, 0), RET0]), ValidateError::DivByZeroK { pc: 0 });
}

#[test]
fn shift_by_32_rejected() {
    ok(&[i(BPF_ALU | BPF_LSH | BPF_K, 0, 0, 31), RET0]);
    for op in [BPF_LSH, BPF_RSH] {
        assert_eq!(bad(&[i(BPF_ALU | op | BPF_K, 0, 0, 32), RET0]), ValidateError::BadShift { pc: 0, k: 32 });
    }
}

#[test]
fn ld_abs_word_aligned_in_context() {
    for k in (0..40).step_by(4) {
        ok(&[i(BPF_LD | BPF_W | BPF_ABS, 0, 0, k), RET0]);
    }
    for k in [1, 2, 3, 38, 40, 44, 0x1000, u32::MAX] {
        assert!(matches!(bad(&[i(BPF_LD | BPF_W | BPF_ABS, 0, 0, k), RET0]), ValidateError::BadLoadOffset { .. }));
    }
}

#[test]
fn ld_half_byte_ind_msh_rejected() {
    for code in [
        BPF_LD | BPF_H | BPF_ABS,
        BPF_LD | BPF_B | BPF_ABS,
        BPF_LD | BPF_W | BPF_IND,
        BPF_LD | BPF_H | BPF_IND,
        BPF_LD | BPF_B | BPF_IND,
        BPF_LDX | BPF_B | BPF_MSH,
        BPF_LDX | BPF_W | BPF_ABS,
        BPF_LD | BPF_B | BPF_IMM,
    ] {
        assert!(matches!(bad(&[i(code, 0, 0, 0), RET0]), ValidateError::BadCode { .. }), "{code:#x}");
    }
}

#[test]
fn len_imm_mem_loads() {
    ok(&[i(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0), RET0]);
    ok(&[i(BPF_LDX | BPF_W | BPF_LEN, 0, 0, 0), RET0]);
    ok(&[i(BPF_LD | BPF_IMM, 0, 0, 7), RET0]);
    ok(&[i(BPF_LDX | BPF_IMM, 0, 0, 7), RET0]);
    ok(&[i(BPF_ST, 0, 0, 3), i(BPF_LD | BPF_MEM, 0, 0, 3), RET0]);
    ok(&[i(BPF_STX, 0, 0, 15), i(BPF_LDX | BPF_MEM, 0, 0, 15), RET0]);
}

#[test]
fn mem_index_out_of_range() {
    for code in [BPF_ST, BPF_STX, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM] {
        assert_eq!(bad(&[i(code, 0, 0, 16), RET0]), ValidateError::BadMemIndex { pc: 0, k: 16 });
    }
}

#[test]
fn uninitialised_memory_read_rejected() {
    assert_eq!(bad(&[i(BPF_LD | BPF_MEM, 0, 0, 2), RET0]), ValidateError::UninitMemRead { pc: 0, k: 2 });
    // Written on one path only.
    let p = [i(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), i(BPF_ST, 0, 0, 0), i(BPF_LD | BPF_MEM, 0, 0, 0), RET0];
    assert!(matches!(bad(&p), ValidateError::UninitMemRead { pc: 2, .. }));
    // Written on both paths.
    let p = [
        i(BPF_ST, 0, 0, 0),
        i(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
        i(BPF_ST, 0, 0, 1),
        i(BPF_LD | BPF_MEM, 0, 0, 0),
        RET0,
    ];
    ok(&p);
}

#[test]
fn tax_txa() {
    ok(&[i(BPF_MISC | BPF_TAX, 0, 0, 0), i(BPF_MISC | BPF_TXA, 0, 0, 0), RET0]);
    assert!(matches!(bad(&[i(BPF_MISC | 0x40, 0, 0, 0), RET0]), ValidateError::BadCode { .. }));
}

#[test]
fn conditional_jumps_k_and_x() {
    for op in [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET] {
        for src in [BPF_K, BPF_X] {
            ok(&[i(BPF_JMP | op | src, 0, 1, 5), RET0, RET0]);
            assert_eq!(bad(&[i(BPF_JMP | op | src, 0, 2, 5), RET0, RET0]), ValidateError::JumpOutOfRange { pc: 0 });
            assert_eq!(bad(&[i(BPF_JMP | op | src, 2, 0, 5), RET0, RET0]), ValidateError::JumpOutOfRange { pc: 0 });
        }
    }
}

#[test]
fn ja_in_and_out_of_range() {
    ok(&[i(BPF_JMP | BPF_JA, 0, 0, 1), RET0, RET0]);
    assert_eq!(bad(&[i(BPF_JMP | BPF_JA, 0, 0, 2), RET0, RET0]), ValidateError::JumpOutOfRange { pc: 0 });
    assert_eq!(bad(&[i(BPF_JMP | BPF_JA, 0, 0, u32::MAX), RET0]), ValidateError::JumpOutOfRange { pc: 0 });
}

#[test]
fn unknown_jump_ops_rejected() {
    // 0x50..0xd0 are eBPF-only jump ops (JNE, JSGT, ...), never cBPF.
    for op in [0x50u16, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0] {
        assert!(matches!(bad(&[i(BPF_JMP | op, 0, 0, 0), RET0]), ValidateError::BadCode { .. }));
    }
}

#[test]
fn program_must_end_in_ret() {
    assert_eq!(bad(&[i(BPF_LD | BPF_IMM, 0, 0, 1)]), ValidateError::NoFinalRet);
    assert_eq!(bad(&[RET0, i(BPF_MISC | BPF_TAX, 0, 0, 0)]), ValidateError::NoFinalRet);
}

#[test]
fn length_limits() {
    assert_eq!(bad(&[]), ValidateError::BadLength(0));
    ok(&vec![RET0; 4096]);
    assert_eq!(bad(&vec![RET0; 4097]), ValidateError::BadLength(4097));
}

#[test]
fn code_above_a_byte_rejected() {
    assert!(matches!(bad(&[i(0x106, 0, 0, 0)]), ValidateError::BadCode { .. }));
}

#[test]
fn every_code_is_classified() {
    // Exactly the documented set is allowed.
    let n = (0u16..=0xffff).filter(|&c| code_allowed(c)).count();
    // RET K/A (2) + 9 ALU ops x 2 + NEG (1) + LD ABS/LEN, LDX LEN (3)
    // + LD/LDX IMM (2) + LD/LDX MEM (2) + ST, STX (2) + TAX, TXA (2)
    // + JA (1) + 4 cond x 2 (8)
    assert_eq!(n, 2 + 18 + 1 + 3 + 2 + 2 + 2 + 2 + 1 + 8);
}
