//! Property tests: for random policies and random requests, the compiled
//! filters run on the oracle agree with the policy's direct meaning.
use iou_policy::abi::SockFilter;
use iou_policy::asm::{Asm, Cond, Target};
use iou_policy::asm::{AsmError, Program};
use iou_policy::bpf::{self, Ctx};
use iou_policy::compile::{FilterSet, Layout, compile, compile_rule, compile_rule_with};
use iou_policy::opcodes::{IORING_OP_CONNECT, IORING_OP_LAST};
use iou_policy::policy::{Action, Conds, Policy, Rule};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::BTreeMap;

const FAMILIES: [u32; 5] = [0, 1, 2, 10, 17];
const BITS64: [u64; 8] = [1, 0x40, 0x80, 0x200, 0x410000, 1 << 32, (1 << 33) | 2, 0x8000_0000_0000_0001];

fn small_u32() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..20, 1 => any::<u32>()]
}
fn family() -> impl Strategy<Value = u32> {
    prop_oneof![4 => proptest::sample::select(&FAMILIES[..]), 1 => any::<u32>()]
}
fn mask64() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => proptest::sample::select(&BITS64[..]),
        1 => (0u32..64).prop_map(|b| 1u64 << b),
        1 => any::<u64>().prop_filter("nonzero", |v| *v != 0),
    ]
}
fn port() -> impl Strategy<Value = u16> {
    prop_oneof![3 => 0u16..16, 1 => proptest::sample::select(&[443u16, 47873, 65535, 65534, 256, 1][..]), 1 => any::<u16>()]
}
fn range() -> impl Strategy<Value = (u16, u16)> {
    (port(), port()).prop_map(|(a, b)| (a.min(b), a.max(b)))
}
fn prefix4() -> impl Strategy<Value = (u32, u8)> {
    (prop_oneof![any::<u32>(), Just(0x0a00_0000u32), Just(0x7f00_0001)], 0u8..=32).prop_map(|(a, l)| {
        let m = if l == 0 { 0 } else { u32::MAX << (32 - l as u32) };
        (a & m, l)
    })
}
fn prefix6() -> impl Strategy<Value = (u128, u8)> {
    (prop_oneof![any::<u128>(), Just(0xfd00u128 << 112), Just(1u128)], 0u8..=128).prop_map(|(a, l)| {
        let m = if l == 0 { 0 } else { u128::MAX << (128 - l as u32) };
        (a & m, l)
    })
}

fn conds() -> impl Strategy<Value = Conds> {
    (
        (
            vec(prop_oneof![(0u32..7).prop_map(|b| 1u8 << b), 1u8..=255], 0..3),
            proptest::option::weighted(0.4, vec(family(), 0..4)),
            proptest::option::weighted(0.3, vec(0u32..16, 0..4)),
            proptest::option::weighted(0.3, vec(small_u32(), 0..3)),
        ),
        (
            vec(mask64(), 0..3),
            vec(mask64(), 0..2),
            vec(mask64(), 0..2),
            vec(mask64(), 0..2),
            vec(mask64(), 0..2),
            vec(mask64(), 0..2),
        ),
        (
            proptest::option::weighted(0.4, vec(range(), 0..4)),
            proptest::option::weighted(0.3, vec(prefix4(), 0..4)),
            proptest::option::weighted(0.3, vec(prefix6(), 0..3)),
        ),
    )
        .prop_map(|((sqe, fam, ty, proto), (fc, fs, mc, ms, rc, rs), (port, v4, v6))| Conds {
            sqe_flags_clear: sqe,
            family: fam,
            sock_type: ty,
            protocol: proto,
            flags_clear: fc,
            flags_set: fs,
            mode_clear: mc,
            mode_set: ms,
            resolve_clear: rc,
            resolve_set: rs,
            port,
            ipv4: v4,
            ipv6: v6,
        })
}

/// Groups with long lists: trees and, past 255 instructions, the
/// trampoline layout.
fn long_conds() -> impl Strategy<Value = Conds> {
    (
        proptest::option::weighted(0.5, vec(family(), 5..64)),
        proptest::option::weighted(0.5, vec(small_u32(), 5..64)),
        proptest::option::weighted(0.6, vec(range(), 5..64)),
        proptest::option::weighted(0.6, vec(prefix4(), 5..64)),
        proptest::option::weighted(0.6, vec(prefix6(), 5..16)),
        vec(mask64(), 0..3),
    )
        .prop_map(|(family, protocol, port, ipv4, ipv6, flags_clear)| Conds {
            family,
            protocol,
            port,
            ipv4,
            ipv6,
            flags_clear,
            ..Conds::default()
        })
}

/// `n` prefixes of `bits`-wide addresses that overlap and nest: all inside
/// one random base prefix (often a word-aligned one, so that IPv6 prefixes
/// share their first words), or runs of adjacent equal-length blocks with
/// gaps, or unrelated; some listed twice or inside another.
fn prefixes(bits: u32, n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<(u128, u8)>> {
    let all = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
    let mask = move |len: u32| all & !all.checked_shr(len).unwrap_or(0);
    let aligned: Vec<u32> = (0..bits).step_by(32).chain([8, 16, 24]).collect();
    let base_len = prop_oneof![2 => proptest::sample::select(aligned), 1 => 0..bits];
    let nested = (any::<u128>(), base_len, vec((any::<u128>(), 0..=bits), n.clone())).prop_map(move |(base, bl, l)| {
        l.into_iter()
            .map(|(r, len)| {
                let len = len.max(bl);
                let a = (base & mask(bl)) | (r & all & !mask(bl));
                (a & mask(len), len as u8)
            })
            .collect::<Vec<_>>()
    });
    let runs = (any::<u128>(), 1..=bits, vec(any::<bool>(), n.clone())).prop_map(move |(base, len, keep)| {
        let step = 1u128 << (bits - len);
        let start = base & mask(len);
        keep.iter()
            .enumerate()
            .filter(|e| *e.1)
            .map(|(i, _)| ((start.wrapping_add(step.wrapping_mul(i as u128)) & all), len as u8))
            .collect::<Vec<_>>()
    });
    let unrelated = vec((any::<u128>(), 0..=bits), n)
        .prop_map(move |l| l.into_iter().map(|(a, len)| (a & all & mask(len), len as u8)).collect::<Vec<_>>());
    prop_oneof![3 => nested, 2 => runs, 1 => unrelated]
}

/// Groups with long prefix lists, IPv4, IPv6 or both, maybe with other
/// conditions beside.
fn prefix_conds() -> impl Strategy<Value = Conds> {
    (
        proptest::option::weighted(0.7, prefixes(32, 5..65)),
        proptest::option::weighted(0.6, prefixes(128, 5..17)),
        proptest::option::weighted(0.2, vec(range(), 1..8)),
        proptest::option::weighted(0.2, vec(family(), 1..4)),
    )
        .prop_filter("an address list", |(v4, v6, ..)| v4.is_some() || v6.is_some())
        .prop_map(|(v4, v6, port, family)| Conds {
            ipv4: v4.map(|l| l.into_iter().map(|(a, len)| (a as u32, len)).collect()),
            ipv6: v6,
            port,
            family,
            ..Conds::default()
        })
}

/// Conditions that allow at least what `a` allows: each condition left
/// out or loosened (entries added to a list, a `_clear` mask grown or
/// dropped, a `_set` mask shrunk or dropped, port ranges widened, prefixes
/// shortened or added, both address lists dropped), as `seed` picks: one
/// kind of condition, or (one time in four) all.
fn widen(a: &Conds, seed: u64) -> Conds {
    let mut r = seed | 1;
    let mut next = move || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r
    };
    let mut b = a.clone();
    let only = next() % 8;
    let on = |kind: u64| only == kind || only >= 6;
    let mut pick = |n: u64| next() % n;
    let list = |l: &mut Option<Vec<u32>>, v: u32, how: u64| match how {
        0 => *l = None,
        1 => l.iter_mut().for_each(|l| l.push(v)),
        _ => {}
    };
    if on(0) {
        list(&mut b.family, pick(20) as u32, pick(4));
        list(&mut b.sock_type, pick(16) as u32, pick(4));
        list(&mut b.protocol, pick(20) as u32, pick(4));
        b.sqe_flags_clear.retain(|_| pick(4) != 0);
        for m in &mut b.sqe_flags_clear {
            *m |= 1 << pick(7);
        }
    }
    for (l, clear, set) in [
        (&mut b.flags_clear, &a.flags_clear, &a.flags_set),
        (&mut b.mode_clear, &a.mode_clear, &a.mode_set),
        (&mut b.resolve_clear, &a.resolve_clear, &a.resolve_set),
    ] {
        if !on(1) {
            continue;
        }
        l.retain(|_| pick(4) != 0);
        for m in l.iter_mut() {
            *m |= 1 << pick(64);
        }
        // A mask that only `_set` bits keep from being one `a` forbids:
        // a request `a` allows cannot have it either.
        let set = set.iter().fold(0, |x, m| x | m);
        if let Some(&m) = clear.first()
            && pick(3) == 0
            && m & !set != 0
            && m & set != 0
        {
            l.push(m & !set);
        }
    }
    for l in [&mut b.flags_set, &mut b.mode_set, &mut b.resolve_set] {
        if !on(2) {
            continue;
        }
        l.retain(|_| pick(4) != 0);
        for m in l.iter_mut() {
            *m &= !(1 << pick(64));
        }
    }
    match if on(3) { pick(3) } else { 2 } {
        0 => b.port = None,
        1 => {
            for (lo, hi) in b.port.iter_mut().flatten() {
                *lo = lo.saturating_sub(pick(300) as u16);
                *hi = hi.saturating_add(pick(300) as u16);
            }
        }
        _ => {}
    }
    match if on(4) || on(5) { pick(4) } else { 3 } {
        0 => (b.ipv4, b.ipv6) = (None, None),
        1 => {
            for (net, len) in b.ipv4.iter_mut().flatten() {
                *len = len.saturating_sub(pick(9) as u8);
                *net &= u32::MAX.checked_shl(32 - *len as u32).unwrap_or(0);
            }
            for (net, len) in b.ipv6.iter_mut().flatten() {
                *len = len.saturating_sub(pick(40) as u8);
                *net &= u128::MAX.checked_shl(128 - *len as u32).unwrap_or(0);
            }
        }
        2 if b.ipv4.is_some() || b.ipv6.is_some() => {
            b.ipv4.get_or_insert_with(Vec::new).push(((next() as u32) & 0xff00_0000, 8));
            b.ipv6.get_or_insert_with(Vec::new).push((1, 128));
        }
        _ => {}
    }
    b
}

/// Every instruction of `p` is reachable from the first.
fn all_reachable(p: &[SockFilter]) -> bool {
    let mut live = vec![false; p.len()];
    live[0] = true;
    for pc in 0..p.len() {
        if !live[pc] {
            return false;
        }
        let i = p[pc];
        let class = i.code & 7;
        let succ: Vec<usize> = match (class, i.code & 0xf0) {
            (6, _) => vec![],
            (5, 0) => vec![pc + 1 + i.k as usize],
            (5, _) => vec![pc + 1 + i.jt as usize, pc + 1 + i.jf as usize],
            _ => vec![pc + 1],
        };
        for t in succ {
            live[t] = true;
        }
    }
    true
}

/// The groups compiled as one rule, both layouts where the direct one
/// fits: each is valid, every instruction reachable, and the two agree
/// with the groups' meaning on `ctxs`.
fn check_layouts(groups: &[Conds], ctxs: &[Ctx]) -> Result<(), TestCaseError> {
    let rule = Rule::AllowIf(groups.to_vec());
    let tramp = compile_rule_with(&rule, Layout::Trampoline).expect("the trampoline layout always assembles");
    let direct = match compile_rule_with(&rule, Layout::Direct) {
        Ok(p) => Some(p),
        Err(AsmError::JumpTooFar { .. }) => None,
        Err(e) => panic!("{e}"),
    };
    let auto: Program = compile_rule(&rule).unwrap();
    prop_assert_eq!(Some(&auto), direct.as_ref().or(Some(&tramp)));
    for p in direct.iter().chain([&tramp]) {
        prop_assert!(bpf::validate(&p.insns).is_ok(), "{}", p.listing());
        prop_assert!(all_reachable(&p.insns), "unreachable code:\n{}", p.listing());
        for c in ctxs {
            prop_assert_eq!(bpf::run(&p.insns, c) != 0, groups.iter().any(|g| g.allows(c)), "{}\n{:?}", p.listing(), c);
        }
    }
    Ok(())
}

/// Groups from `groups`, each time with `n` requests aimed at them.
fn with_requests(groups: impl Strategy<Value = Vec<Conds>>, n: usize) -> impl Strategy<Value = (Vec<Conds>, Vec<Ctx>)> {
    groups.prop_flat_map(move |g| {
        let r = requests_for(&g, n);
        (Just(g), r)
    })
}

/// `n` requests aimed at the values of `groups` (as a CONNECT rule's).
fn requests_for(groups: &[Conds], n: usize) -> impl Strategy<Value = Vec<Ctx>> + use<> {
    let rule = Rule::AllowIf(groups.to_vec());
    let p = Policy { default: Action::Deny, rules: [(IORING_OP_CONNECT, rule)].into(), restrict: None };
    vec(ctx_for(&p), n)
}

fn rule() -> impl Strategy<Value = Rule> {
    prop_oneof![1 => Just(Rule::Allow), 1 => Just(Rule::Deny), 3 => conds().prop_map(|c| Rule::AllowIf(vec![c])), 2 => vec(conds(), 2..4).prop_map(Rule::AllowIf)]
}

fn policy() -> impl Strategy<Value = Policy> {
    (prop_oneof![Just(Action::Allow), Just(Action::Deny)], vec((0u8..IORING_OP_LAST as u8, rule()), 0..5)).prop_map(
        |(default, rules)| Policy { default, rules: rules.into_iter().collect::<BTreeMap<_, _>>(), restrict: None },
    )
}

/// A request that often hits the values a policy talks about: each field
/// is taken from the policy (possibly with one bit flipped) or random.
fn ctx_for(p: &Policy) -> BoxedStrategy<Ctx> {
    let ops: Vec<u8> = p.rules.keys().copied().collect();
    let mut fams: Vec<u32> = FAMILIES.to_vec();
    let mut masks: Vec<u64> = BITS64.to_vec();
    let mut ports: Vec<u16> = vec![0, 443];
    let mut v4: Vec<u32> = vec![0x0a01_0203];
    let mut v6: Vec<u128> = vec![1];
    for r in p.rules.values() {
        let Rule::AllowIf(groups) = r else { continue };
        for c in groups {
            fams.extend(c.family.iter().flatten());
            fams.extend(c.sock_type.iter().flatten());
            fams.extend(c.protocol.iter().flatten());
            for l in [&c.flags_clear, &c.flags_set, &c.mode_clear, &c.mode_set, &c.resolve_clear, &c.resolve_set] {
                masks.extend(l.iter());
            }
            masks.extend(c.sqe_flags_clear.iter().map(|&m| m as u64));
            for &(lo, hi) in c.port.iter().flatten() {
                ports.extend([lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]);
            }
            // Each prefix's first and last address, and their neighbours
            // outside it: the bounds of the decision trees' spans.
            for &(net, len) in c.ipv4.iter().flatten() {
                let last = net | u32::MAX.checked_shr(len as u32).unwrap_or(0);
                v4.extend([net, last, net.wrapping_sub(1), last.wrapping_add(1)]);
            }
            for &(net, len) in c.ipv6.iter().flatten() {
                let last = net | u128::MAX.checked_shr(len as u32).unwrap_or(0);
                v6.extend([net, last, net.wrapping_sub(1), last.wrapping_add(1)]);
            }
        }
    }
    let op = if ops.is_empty() {
        (0u8..IORING_OP_LAST as u8).boxed()
    } else {
        prop_oneof![4 => proptest::sample::select(ops), 1 => 0u8..IORING_OP_LAST as u8].boxed()
    };
    let pick32 = move |vals: Vec<u32>| {
        prop_oneof![
            3 => (proptest::sample::select(vals), prop_oneof![2 => Just(0u32), 1 => (0u32..32).prop_map(|b| 1u32 << b)])
                .prop_map(|(v, f)| v ^ f),
            1 => any::<u32>()
        ]
    };
    let m2 = masks.clone();
    let mask_combo = move || {
        prop_oneof![
            3 => vec(proptest::sample::select(m2.clone()), 0..3).prop_map(|v| v.into_iter().fold(0u64, |a, b| a | b)),
            1 => any::<u64>()
        ]
    };
    (
        op,
        (pick32(fams.clone()), pick32(fams.clone()), pick32(fams)),
        (mask_combo(), mask_combo(), mask_combo()),
        prop_oneof![3 => proptest::sample::select(ports), 1 => any::<u16>()],
        (pick32(v4), prop_oneof![2 => proptest::sample::select(v6), 1 => any::<u128>()], 0u32..128),
        (any::<u8>(), any::<u64>(), any::<u8>()),
    )
        .prop_map(|(op, (w16, w20, w24), (f, m, r), port, (a4, a6, flip6), (sqe, ud, layout))| {
            let mut c = Ctx::new(op);
            c.set_sqe_flags(sqe & 0x7f).set_user_data(ud);
            match layout % 3 {
                0 => {
                    c.set_u32(16, w16).set_u32(20, w20).set_u32(24, w24);
                }
                1 => {
                    c.set_u64(16, f).set_u64(24, m).set_u64(32, r);
                }
                _ => {
                    let a6 = if layout & 4 != 0 { a6 ^ (1u128 << flip6) } else { a6 };
                    let fam = if layout & 8 != 0 {
                        2
                    } else if layout & 16 != 0 {
                        10
                    } else {
                        w16
                    };
                    let addr: Vec<u8> = if fam == 2 { a4.to_be_bytes().to_vec() } else { a6.to_be_bytes().to_vec() };
                    c = {
                        let mut k = Ctx::connect(fam, port, &addr);
                        k.0[8] = op;
                        k.0[9] = sqe & 0x7f;
                        k
                    };
                }
            }
            c
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_policy_agrees_with_its_meaning((p, reqs) in policy().prop_flat_map(|p| {
        let s = ctx_for(&p);
        (Just(p), vec(s, 1..16))
    })) {
        let filters = compile(&p).expect("compiles");
        for f in &filters {
            prop_assert!(bpf::validate(&f.program.insns).is_ok());
        }
        let mut set = FilterSet::new();
        set.add_all(&filters);
        for c in &reqs {
            prop_assert_eq!(set.allows(c), p.allows(c), "policy {:?} ctx {:?}", p, c);
            // `iou-sandbox test`'s explanation gives the same verdict, and
            // names a failing condition exactly when a group fails.
            prop_assert_eq!(p.decide(c).allowed, p.allows(c));
            if let Some(Rule::AllowIf(g)) = p.rules.get(&c.opcode()) {
                for group in g {
                    prop_assert_eq!(group.why_not(c).is_none(), group.allows(c), "{:?} {:?}", group, c);
                }
            }
        }
    }

    /// Conditions compiled both ways (direct jumps and per-block
    /// trampolines) agree with each other and with the meaning, on random
    /// bytes and on requests aimed at the conditions' values.
    #[test]
    fn each_rule_program_agrees((groups, ctxs) in with_requests(vec(conds(), 1..4), 8), raw in vec(any::<u8>(), 40)) {
        let mut ctxs = ctxs;
        let mut r = Ctx::default();
        r.0.copy_from_slice(&raw);
        ctxs.push(r);
        check_layouts(&groups, &ctxs)?;
    }

    /// `within`, the linter's containment of groups: loosened conditions
    /// contain the original ones, and whenever one group is within another
    /// (either way round, or between unrelated groups), every request the
    /// first allows, the second allows too.
    #[test]
    fn within_is_containment(((a, b, other), ctxs) in (conds(), conds(), any::<u64>()).prop_flat_map(|(a, o, seed)| {
        let b = widen(&a, seed);
        let r = requests_for(&[a.clone(), b.clone(), o.clone()], 24);
        (Just((a, b, o)), r)
    })) {
        prop_assert!(a.within(&b), "{:?}\nwithin\n{:?}", a, b);
        prop_assert!(a.within(&a));
        for (x, y) in [(&a, &b), (&b, &a), (&a, &other), (&other, &a)] {
            if x.within(y) {
                for c in &ctxs {
                    prop_assert!(!x.allows(c) || y.allows(c), "{:?}\nwithin\n{:?}\nbut not on {:?}", x, y, c);
                }
            }
        }
    }

    /// The evaluator never panics and the validator never panics, on any
    /// program at all; for accepted programs the evaluator terminates.
    #[test]
    fn validator_and_evaluator_total(insns in vec((any::<u16>(), any::<u8>(), any::<u8>(), any::<u32>()), 1..24),
                                    raw in vec(any::<u8>(), 40)) {
        let prog: Vec<SockFilter> = insns.into_iter().map(|(c, t, f, k)| SockFilter::new(c, t, f, k)).collect();
        let mut ctx = Ctx::default();
        ctx.0.copy_from_slice(&raw);
        let _ = bpf::validate(&prog);
        let _ = bpf::run(&prog, &ctx);
    }

    /// Random programs over the allowed set built with the assembler pass
    /// the validator, and running them gives the same answer as a
    /// straightforward re-implementation of A/X semantics for the
    /// comparison chain.
    #[test]
    fn membership_chain_matches(vals in vec(any::<u32>(), 1..40), probe in any::<u32>(), pick in any::<prop::sample::Index>()) {
        let mut a = Asm::new();
        let yes = a.label();
        let no = a.label();
        a.ld_abs(16, "");
        for (i, v) in vals.iter().enumerate() {
            let f = if i + 1 == vals.len() { Target::To(no) } else { Target::Next };
            a.jmp_k(Cond::Eq, *v, yes, f, "");
        }
        a.bind(yes);
        a.ret_k(1, "");
        a.bind(no);
        a.ret_k(0, "");
        let p = a.finish().unwrap();
        bpf::validate(&p.insns).unwrap();
        for x in [probe, *pick.get(&vals)] {
            let mut c = Ctx::default();
            c.set_u32(16, x);
            prop_assert_eq!(bpf::run(&p.insns, &c) != 0, vals.contains(&x));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Long prefix lists, overlapping, nested and adjacent, IPv4 and IPv6:
    /// their decision trees (both layouts) agree with the lists as given,
    /// on the addresses at and around each prefix's bounds.
    #[test]
    fn long_prefix_lists_agree((groups, ctxs) in with_requests(vec(prefix_conds(), 1..3), 32)) {
        check_layouts(&groups, &ctxs)?;
    }

    /// Long lists (decision trees), in OR groups often too long for direct
    /// jumps: the trampoline layout agrees with the meaning.
    #[test]
    fn long_lists_and_the_trampoline((groups, ctxs) in with_requests(vec(long_conds(), 1..4), 24)) {
        check_layouts(&groups, &ctxs)?;
    }
}
