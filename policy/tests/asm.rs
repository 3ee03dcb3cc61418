use iou_policy::asm::{Asm, AsmError, Cond, Target};
use iou_policy::bpf::{self, BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, Ctx};

#[test]
fn resolves_forward_labels() {
    let mut a = Asm::new();
    let yes = a.label();
    let no = a.label();
    a.ld_abs(16, "family");
    a.jmp_k(Cond::Eq, 2, yes, Target::Next, "");
    a.jmp_k(Cond::Eq, 10, yes, no, "");
    a.bind(yes);
    a.ret_k(1, "");
    a.bind(no);
    a.ret_k(0, "");
    let p = a.finish().unwrap();
    assert_eq!(p.insns.len(), 5);
    assert_eq!((p.insns[1].jt, p.insns[1].jf), (1, 0));
    assert_eq!((p.insns[2].jt, p.insns[2].jf), (0, 1));
    assert_eq!(p.insns[1].code, BPF_JMP | BPF_JEQ | BPF_K);
    bpf::validate(&p.insns).unwrap();
    let mut c = Ctx::default();
    c.set_u32(16, 10);
    assert_eq!(bpf::run(&p.insns, &c), 1);
    c.set_u32(16, 3);
    assert_eq!(bpf::run(&p.insns, &c), 0);
}

#[test]
fn ja_resolves_to_k() {
    let mut a = Asm::new();
    let end = a.label();
    a.ja(end, "");
    a.ret_k(7, "");
    a.ret_k(8, "");
    a.bind(end);
    a.ret_k(9, "");
    let p = a.finish().unwrap();
    assert_eq!(p.insns[0].code, BPF_JMP | BPF_JA);
    assert_eq!(p.insns[0].k, 2);
    assert_eq!(bpf::run(&p.insns, &Ctx::default()), 9);
}

#[test]
fn backward_jump_is_an_error() {
    let mut a = Asm::new();
    let l = a.label();
    a.bind(l);
    a.ld_imm(0, "");
    a.jmp_k(Cond::Eq, 0, l, Target::Next, "");
    a.ret_k(0, "");
    assert_eq!(a.finish(), Err(AsmError::BackwardJump { pc: 1 }));
}

#[test]
fn self_jump_is_an_error() {
    let mut a = Asm::new();
    let l = a.label();
    a.ld_imm(0, "");
    a.bind(l);
    a.ja(l, "");
    a.ret_k(0, "");
    assert_eq!(a.finish(), Err(AsmError::BackwardJump { pc: 1 }));
}

#[test]
fn unbound_label_is_an_error() {
    let mut a = Asm::new();
    let l = a.label();
    a.ja(l, "");
    a.ret_k(0, "");
    assert_eq!(a.finish(), Err(AsmError::UnboundLabel { pc: 0 }));
}

#[test]
fn label_past_the_end_is_an_error() {
    let mut a = Asm::new();
    let l = a.label();
    a.ja(l, "");
    a.ret_k(0, "");
    a.bind(l);
    assert_eq!(a.finish(), Err(AsmError::LabelAtEnd { pc: 0 }));
}

#[test]
fn rebinding_is_an_error() {
    let mut a = Asm::new();
    let l = a.label();
    a.bind(l);
    a.ret_k(0, "");
    a.bind(l);
    a.ret_k(0, "");
    assert_eq!(a.finish(), Err(AsmError::Rebound));
}

#[test]
fn conditional_jump_range_is_255() {
    for (fill, ok) in [(255usize, true), (256, false)] {
        let mut a = Asm::new();
        let far = a.label();
        a.jmp_k(Cond::Eq, 0, far, Target::Next, "");
        for _ in 0..fill {
            a.ld_imm(0, "");
        }
        a.bind(far);
        a.ret_k(1, "");
        let r = a.finish();
        if ok {
            let p = r.unwrap();
            assert_eq!(p.insns[0].jt, 255);
            bpf::validate(&p.insns).unwrap();
            assert_eq!(bpf::run(&p.insns, &Ctx::default()), 1);
        } else {
            assert_eq!(r, Err(AsmError::JumpTooFar { pc: 0, offset: 256 }));
        }
    }
}

#[test]
fn ja_has_no_8_bit_limit() {
    let mut a = Asm::new();
    let far = a.label();
    a.ja(far, "");
    for _ in 0..1000 {
        a.ret_k(0, "");
    }
    a.bind(far);
    a.ret_k(5, "");
    let p = a.finish().unwrap();
    assert_eq!(p.insns[0].k, 1000);
    bpf::validate(&p.insns).unwrap();
    assert_eq!(bpf::run(&p.insns, &Ctx::default()), 5);
}

#[test]
fn comments_and_listing() {
    let mut a = Asm::new();
    a.ld_abs(16, "load family");
    a.ret_a("return it");
    let p = a.finish().unwrap();
    let l = p.listing();
    assert!(l.contains("ld [16]") && l.contains("; load family"), "{l}");
    assert!(l.contains("ret a") && l.contains("; return it"), "{l}");
}
