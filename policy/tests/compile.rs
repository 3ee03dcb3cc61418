//! Concrete policies compiled and run on the oracle.
use iou_policy::abi::IO_URING_BPF_FILTER_DENY_REST;
use iou_policy::bpf::{self, Ctx};
use iou_policy::compile::{Denial, FilterSet, compile, compile_task};
use iou_policy::opcodes::*;
use iou_policy::parse::parse_policy;
use iou_policy::policy::Policy;

fn load(text: &str) -> (Policy, FilterSet) {
    let p = parse_policy(text).unwrap_or_else(|e| panic!("{e:?}"));
    let f = compile(&p).unwrap();
    for x in &f {
        bpf::validate(&x.program.insns).unwrap();
    }
    let mut s = FilterSet::new();
    s.add_all(&f);
    (p, s)
}

fn check(p: &Policy, s: &FilterSet, c: &Ctx, want: bool) {
    assert_eq!(p.allows(c), want, "policy meaning for {c:?}");
    assert_eq!(s.allows(c), want, "filters for {c:?}");
}

#[test]
fn connect_port_and_ipv4() {
    let (p, s) = load(
        r#"default = "deny"
           [op.connect]
           allow_if = { family = ["inet"], port = ["443", "8000-8080"], ipv4 = ["10.0.0.0/8"] }"#,
    );
    check(&p, &s, &Ctx::connect(2, 443, &[10, 1, 2, 3]), true);
    check(&p, &s, &Ctx::connect(2, 8000, &[10, 0, 0, 1]), true);
    check(&p, &s, &Ctx::connect(2, 8080, &[10, 255, 255, 255]), true);
    check(&p, &s, &Ctx::connect(2, 8081, &[10, 1, 2, 3]), false);
    check(&p, &s, &Ctx::connect(2, 7999, &[10, 1, 2, 3]), false);
    // 443 byte-swapped is 47873: must not match
    check(&p, &s, &Ctx::connect(2, 443u16.swap_bytes(), &[10, 1, 2, 3]), false);
    check(&p, &s, &Ctx::connect(2, 443, &[11, 1, 2, 3]), false);
    check(&p, &s, &Ctx::connect(2, 443, &[3, 2, 1, 10]), false);
    check(&p, &s, &Ctx::connect(10, 443, &[10, 1, 2, 3]), false);
    // other opcodes: denied by DENY_REST
    check(&p, &s, &Ctx::new(IORING_OP_NOP), false);
    check(&p, &s, &Ctx::new(22), false);
}

#[test]
fn ipv6_prefixes() {
    let (p, s) = load(
        r#"default = "allow"
           [op.connect]
           allow_if = { ipv6 = ["fd00::/8", "2001:db8:1:2:3::/80"] }"#,
    );
    let a: std::net::Ipv6Addr = "fd12::1".parse().unwrap();
    check(&p, &s, &Ctx::connect(10, 1, &a.octets()), true);
    let a: std::net::Ipv6Addr = "2001:db8:1:2:3:ffff::1".parse().unwrap();
    check(&p, &s, &Ctx::connect(10, 1, &a.octets()), true);
    let a: std::net::Ipv6Addr = "2001:db8:1:2:4::1".parse().unwrap();
    check(&p, &s, &Ctx::connect(10, 1, &a.octets()), false);
    check(&p, &s, &Ctx::connect(2, 1, &[253, 0, 0, 0]), false);
    check(&p, &s, &Ctx::new(22), true);
}

#[test]
fn openat_flags_mode_resolve() {
    let (p, s) = load(
        r#"default = "allow"
           [op.openat]
           allow_if = { flags_clear = ["O_CREAT", "O_TMPFILE"] }
           [op.openat2]
           allow_if = { resolve_set = ["RESOLVE_BENEATH"], mode_clear = ["S_ISUID"] }"#,
    );
    let creat = libc::O_CREAT as u64;
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT, 0, 0, 0), true);
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT, libc::O_RDWR as u64, 0, 0), true);
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT, creat, 0o644, 0), false);
    // O_DIRECTORY alone is fine; O_TMPFILE (which includes it) is not.
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT, libc::O_DIRECTORY as u64, 0, 0), true);
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT, libc::O_TMPFILE as u64, 0, 0), false);
    // high flag word is irrelevant to O_CREAT
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT, 1 << 40, 0, 0), true);
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT2, 0, 0, 8), true);
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT2, 0, 0, 0), false);
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT2, creat, 0o4755, 8), false);
    check(&p, &s, &Ctx::open(IORING_OP_OPENAT2, creat, 0o755, 0x18), true);
}

#[test]
fn socket_rules_ignore_type_flags() {
    let (p, s) = load(
        r#"default = "allow"
           [op.socket]
           allow_if = { family = ["inet", "inet6"], type = ["stream"], protocol = [0, "tcp"] }"#,
    );
    check(&p, &s, &Ctx::socket(2, 1, 0), true);
    check(&p, &s, &Ctx::socket(10, 1 | libc::SOCK_CLOEXEC as u32 | libc::SOCK_NONBLOCK as u32, 6), true);
    check(&p, &s, &Ctx::socket(2, 2, 0), false);
    check(&p, &s, &Ctx::socket(1, 1, 0), false);
    check(&p, &s, &Ctx::socket(2, 1, 17), false);
}

#[test]
fn sqe_flags_clear() {
    let (p, s) = load(
        r#"default = "allow"
           [op.read]
           allow_if = { sqe_flags_clear = ["IOSQE_FIXED_FILE", "async"] }"#,
    );
    let mut c = Ctx::new(22);
    check(&p, &s, &c, true);
    c.set_sqe_flags(0x04);
    check(&p, &s, &c, true);
    c.set_sqe_flags(0x01);
    check(&p, &s, &c, false);
    c.set_sqe_flags(0x10);
    check(&p, &s, &c, false);
}

#[test]
fn default_deny_sets_deny_rest_on_last_filter_only() {
    let p =
        parse_policy("default = \"deny\"\n[op.read]\naction = \"allow\"\n[op.write]\naction = \"allow\"\n").unwrap();
    let f = compile(&p).unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].flags, 0);
    assert_eq!(f[1].flags, IO_URING_BPF_FILTER_DENY_REST);
    assert_eq!(f[0].pdu_size, 0);
}

/// The filter that denies, as the deny tracepoint names it: with
/// `compile_task`'s explicit deny filters a program in front of the deny
/// entry; with DENY_REST alone the deny entry; a program further down a
/// chain by its position, newest first.
#[test]
fn denial_names_the_filter() {
    let p = parse_policy("default = \"deny\"\nop.nop = \"allow\"\nop.read = \"allow\"\n").unwrap();
    let openat = Ctx::open(IORING_OP_OPENAT, 0, 0, 0);
    let mut task = FilterSet::new();
    task.add_all(&compile_task(&p, IORING_OP_LAST_6_12).unwrap());
    assert_eq!(task.denial(&openat), Some(Denial { index: 0, deny_rest: false }));
    assert_eq!(task.denial(&Ctx::new(IORING_OP_NOP)), None);
    let mut rest = FilterSet::new();
    rest.add_all(&compile(&p).unwrap());
    assert_eq!(rest.denial(&openat), Some(Denial { index: 0, deny_rest: true }));
    assert!(!rest.allows(&openat) && rest.allows(&Ctx::new(22)));
    // An older deny of NOP under a newer allow: the second filter.
    let deny = compile(&parse_policy("default = \"allow\"\nop.nop = \"deny\"\n").unwrap()).unwrap();
    let allow = compile(
        &parse_policy("default = \"allow\"\n[op.nop]\nallow_if = { sqe_flags_clear = [\"async\"] }\n").unwrap(),
    )
    .unwrap();
    let mut s = FilterSet::new();
    s.add_all(&deny);
    s.add_all(&allow);
    assert_eq!(s.denial(&Ctx::new(IORING_OP_NOP)), Some(Denial { index: 1, deny_rest: false }));
    assert_eq!(s.denial(Ctx::new(IORING_OP_NOP).set_sqe_flags(0x10)), Some(Denial { index: 0, deny_rest: false }));
}

#[test]
fn default_deny_without_rules_denies_everything() {
    let (p, s) = load("default = \"deny\"\n");
    for op in 0..IORING_OP_LAST as u8 {
        check(&p, &s, &Ctx::new(op), false);
    }
}

#[test]
fn default_allow_without_rules_installs_nothing() {
    let p = parse_policy("default = \"allow\"\n").unwrap();
    assert!(compile(&p).unwrap().is_empty());
}

#[test]
fn pdu_size_only_when_data_is_read() {
    let p = parse_policy(
        r#"default = "allow"
           [op.connect]
           allow_if = { port = [443] }
           [op.socket]
           allow_if = { sqe_flags_clear = ["async"] }
           [op.openat]
           action = "deny""#,
    )
    .unwrap();
    let f = compile(&p).unwrap();
    let by_op = |op| f.iter().find(|x| x.opcode == op).unwrap().pdu_size;
    assert_eq!(by_op(IORING_OP_CONNECT), 24);
    assert_eq!(by_op(IORING_OP_SOCKET), 0);
    assert_eq!(by_op(IORING_OP_OPENAT), 0);
}

#[test]
fn long_lists_still_compile_with_trampolines() {
    let ports: Vec<String> = (0..64).map(|i| format!("\"{}-{}\"", 1000 + 10 * i, 1003 + 10 * i)).collect();
    let v4: Vec<String> = (0..64).map(|i| format!("\"10.{i}.0.0/16\"")).collect();
    let v6: Vec<String> = (0..16).map(|i| format!("\"fd00:{i:x}::/33\"")).collect();
    let fams: Vec<String> = (0..64).map(|i| i.to_string()).collect();
    let text = format!(
        "default = \"deny\"\n[op.connect.allow_if]\nfamily = [{}]\nport = [{}]\nipv4 = [{}]\nipv6 = [{}]\nsqe_flags_clear = [1,2,4,8,16,32,64]\n",
        fams.join(","),
        ports.join(","),
        v4.join(","),
        v6.join(",")
    );
    let (p, s) = load(&text);
    check(&p, &s, &Ctx::connect(2, 1001, &[10, 5, 0, 1]), true);
    check(&p, &s, &Ctx::connect(2, 1631, &[10, 63, 9, 9]), true);
    check(&p, &s, &Ctx::connect(2, 1004, &[10, 5, 0, 1]), false);
    check(&p, &s, &Ctx::connect(2, 1001, &[10, 64, 0, 1]), false);
    let a: std::net::Ipv6Addr = "fd00:f:7fff::1".parse().unwrap();
    check(&p, &s, &Ctx::connect(10, 1001, &a.octets()), true);
    let a: std::net::Ipv6Addr = "fd00:f:8000::1".parse().unwrap();
    check(&p, &s, &Ctx::connect(10, 1001, &a.octets()), false);
}

#[test]
fn explain_lists_every_filter() {
    let p = parse_policy(include_str!("../examples/policy.toml")).unwrap();
    let f = compile(&p).unwrap();
    let text: String = f.iter().map(|x| x.explain()).collect();
    assert!(text.contains("IORING_OP_CONNECT (16)"));
    assert!(text.contains("DENY_REST"));
    assert!(text.contains("; deny"));
}

/// --explain comments name the O_* bits a 64-bit test looks at, word by
/// word, and keep unnamed bits in hex.
#[test]
fn comments_name_open_flags() {
    use iou_policy::policy::{Conds, Rule};
    let c = Conds {
        flags_set: vec![libc::O_CREAT as u64 | 1 << 32],
        flags_clear: vec![libc::O_EXCL as u64],
        ..Conds::default()
    };
    let prog = iou_policy::compile::compile_rule(&Rule::AllowIf(vec![c])).unwrap();
    let text = prog.listing();
    assert!(text.contains(&format!("flags O_EXCL ({:#x}) must not be set", libc::O_EXCL)), "{text}");
    assert!(
        text.contains(&format!("flags O_CREAT|0x100000000 ({:#x}) must be set", libc::O_CREAT as u64 | 1 << 32)),
        "{text}"
    );
    assert!(text.contains(&format!("; O_CREAT ({:#x}) set?", libc::O_CREAT)), "{text}");
    assert!(text.contains("; 0x100000000 set?"), "{text}");
}

/// The example policy says what its comment says: "HTTPS on the internal
/// network, or local ports 8000-8080", and nothing else.
#[test]
fn example_connect_rule_means_its_comment() {
    use iou_policy::bpf::Ctx;
    use iou_policy::compile::FilterSet;
    let text = include_str!("../examples/policy.toml");
    assert!(text.contains("# Connect to HTTPS on the internal network, or to local ports 8000-8080"));
    let p = iou_policy::parse::parse_policy(text).unwrap();
    let mut set = FilterSet::new();
    set.add_all(&compile(&p).unwrap());
    let v4 = |a: [u8; 4], port| Ctx::connect(2, port, &a);
    let v6 = |a: &str, port| Ctx::connect(10, port, &a.parse::<std::net::Ipv6Addr>().unwrap().octets());
    let cases = [
        (v4([10, 1, 2, 3], 443), true, "HTTPS, internal IPv4"),
        (v6("fd00::1", 443), true, "HTTPS, internal IPv6"),
        (v4([127, 0, 0, 1], 8000), true, "local 8000"),
        (v4([127, 9, 9, 9], 8080), true, "local 8080"),
        (v6("::1", 8042), true, "local IPv6 8042"),
        (v4([10, 1, 2, 3], 8000), false, "internal but not HTTPS"),
        (v6("fd00::1", 8080), false, "internal IPv6 but not HTTPS"),
        (v4([127, 0, 0, 1], 443), false, "HTTPS but local"),
        (v6("::1", 443), false, "HTTPS but local IPv6"),
        (v4([127, 0, 0, 1], 8081), false, "local, past the range"),
        (v4([127, 0, 0, 1], 7999), false, "local, before the range"),
        (v4([192, 168, 1, 1], 443), false, "HTTPS outside"),
        (v6("2001:db8::1", 8000), false, "outside IPv6"),
        (Ctx::connect(1, 0, &[]), false, "unix socket"),
    ];
    for (ctx, want, what) in cases {
        assert_eq!(p.allows(&ctx), want, "meaning: {what}");
        assert_eq!(set.allows(&ctx), want, "filters: {what}");
    }
}

/// default = "deny" under stacking: DENY_REST alone leaves an opcode that
/// an older filter covers to that filter; compile_task's explicit deny
/// filters deny it anyway, for every opcode below the kernel's count.
#[test]
fn default_deny_holds_under_an_outer_policy() {
    use iou_policy::abi::IO_URING_BPF_FILTER_DENY_REST;
    use iou_policy::bpf::Ctx;
    use iou_policy::compile::{FilterSet, compile_task};
    let outer = iou_policy::parse::parse_policy(
        "default = \"allow\"\n[op.read]\nallow_if = { sqe_flags_clear = [\"async\"] }\n",
    )
    .unwrap();
    let inner = iou_policy::parse::parse_policy("default = \"deny\"\nop.nop = \"allow\"\n").unwrap();
    let read = Ctx::new(22);
    let stacked = |inner_filters: &[iou_policy::compile::CompiledFilter]| {
        let mut s = FilterSet::new();
        s.add_all(&compile(&outer).unwrap());
        s.add_all(inner_filters);
        s
    };
    // DENY_REST alone: READ slips through under the outer policy.
    assert!(stacked(&compile(&inner).unwrap()).allows(&read));
    for op_last in [58u32, 65] {
        let f = compile_task(&inner, op_last).unwrap();
        assert_eq!(f.len(), op_last as usize, "one filter per opcode");
        // DENY_REST stays on the rules' last filter, before the deny filters.
        assert_eq!(f.iter().filter(|x| x.flags & IO_URING_BPF_FILTER_DENY_REST != 0).count(), 1);
        assert_ne!(f[0].flags & IO_URING_BPF_FILTER_DENY_REST, 0);
        assert!(f[1..].iter().all(|x| x.program.insns == [iou_policy::abi::SockFilter::new(6, 0, 0, 0)]));
        let s = stacked(&f);
        for op in 0..op_last as u8 {
            assert_eq!(s.allows(&Ctx::new(op)), op == 0, "opcode {op}");
        }
    }
    // default = "allow" adds nothing.
    assert_eq!(compile_task(&outer, 65).unwrap(), compile(&outer).unwrap());
}

/// The most instructions one run can execute (programs only jump forward).
fn longest_path(p: &[iou_policy::abi::SockFilter]) -> usize {
    let mut best = vec![0usize; p.len() + 1];
    for pc in (0..p.len()).rev() {
        let i = p[pc];
        let next = match (i.code & 7, i.code & 0xf0) {
            (6, _) => 0,
            (5, 0) => best[pc + 1 + i.k as usize],
            (5, _) => best[pc + 1 + i.jt as usize].max(best[pc + 1 + i.jf as usize]),
            _ => best[pc + 1],
        };
        best[pc] = 1 + next;
    }
    best[0]
}

/// Long lists are balanced decision trees: a run compares O(log n)
/// entries, not every one, and the program stays O(n).
#[test]
fn long_lists_are_decision_trees() {
    let fams: Vec<String> = (0..64).map(|i| (1000 + 7 * i).to_string()).collect();
    let ports: Vec<String> = (0..64).map(|i| format!("\"{}-{}\"", 1000 + 10 * i, 1003 + 10 * i)).collect();
    let text = format!(
        "default = \"deny\"\n[op.socket]\nallow_if = {{ family = [{}] }}\n[op.connect]\nallow_if = {{ port = [{}] }}\n",
        fams.join(", "),
        ports.join(", ")
    );
    let (p, s) = load(&text);
    let f = compile(&p).unwrap();
    let sock = f.iter().find(|x| x.opcode == IORING_OP_SOCKET).unwrap();
    let conn = f.iter().find(|x| x.opcode == IORING_OP_CONNECT).unwrap();
    assert!(longest_path(&sock.program.insns) <= 12, "{}", sock.program.listing());
    assert!(sock.program.insns.len() <= 64 + 20, "{}", sock.program.listing());
    assert!(longest_path(&conn.program.insns) <= 24, "{}", conn.program.listing());
    for i in 0..64u32 {
        check(&p, &s, &Ctx::socket(1000 + 7 * i, 1, 0), true);
        check(&p, &s, &Ctx::socket(1001 + 7 * i, 1, 0), false);
        let lo = 1000 + 10 * i as u16;
        for (port, want) in [(lo - 1, false), (lo, true), (lo + 3, true), (lo + 4, false)] {
            check(&p, &s, &Ctx::connect(2, port, &[1, 2, 3, 4]), want);
        }
    }
}

/// Within a group each context word is loaded from the context once (a
/// word read again comes from scratch memory).
#[test]
fn each_context_word_is_loaded_once_per_group() {
    let (p, _) = load(
        "default = \"deny\"\n[op.connect]\nallow_if = { family = [\"inet\", \"inet6\"], port = [\"443\", \"8000-8080\"], \
         ipv4 = [\"10.0.0.0/8\", \"192.168.0.0/16\", \"172.16.0.0/12\"], ipv6 = [\"fd00::/8\", \"2001:db8::/32\", \"::1/128\"] }\n\
         [op.openat]\nallow_if = { flags_clear = [\"O_CREAT\", \"O_TMPFILE\", \"O_TRUNC\"], flags_set = [\"O_CLOEXEC\"], mode_clear = [\"S_ISUID\", \"S_ISGID\"] }\n",
    );
    for f in compile(&p).unwrap() {
        let mut loads = std::collections::BTreeMap::new();
        for i in &f.program.insns {
            if i.code == 0x20 {
                *loads.entry(i.k).or_insert(0) += 1;
            }
        }
        assert!(loads.values().all(|&n| n == 1), "{loads:?}\n{}", f.program.listing());
    }
}

/// Duplicates, overlapping ranges and nested or sibling prefixes compile
/// to what their tight form compiles to.
#[test]
fn duplicates_and_overlaps_are_merged() {
    let (loose, _) = load(
        "default = \"deny\"\n[op.connect]\nallow_if = { port = [\"80\", \"80\", \"81-90\", \"85-100\", \"101\"], \
         ipv4 = [\"10.0.0.0/9\", \"10.128.0.0/9\", \"10.1.0.0/16\", \"10.0.0.0/8\"] }\n\
         [op.socket]\nallow_if = { family = [\"inet\", \"inet\", 2, \"inet6\"], type = [\"stream\", 1] }\n\
         [op.openat]\nallow_if = { flags_clear = [\"O_CREAT\", \"O_CREAT\", \"O_EXCL\"], flags_set = [\"O_CLOEXEC\", \"O_CLOEXEC\"] }\n",
    );
    let (tight, _) = load(
        "default = \"deny\"\n[op.connect]\nallow_if = { port = [\"80-101\"], ipv4 = [\"10.0.0.0/8\"] }\n\
         [op.socket]\nallow_if = { family = [\"inet\", \"inet6\"], type = [\"stream\"] }\n\
         [op.openat]\nallow_if = { flags_clear = [\"O_CREAT\", \"O_EXCL\"], flags_set = [\"O_CLOEXEC\"] }\n",
    );
    let insns = |p: &Policy| compile(p).unwrap().into_iter().map(|f| f.program.insns).collect::<Vec<_>>();
    assert_eq!(insns(&loose), insns(&tight));
}

/// A group that can never hold is left out; one that always holds makes
/// the rule an allow.
#[test]
fn contradictions_and_tautologies() {
    use iou_policy::policy::Conds;
    let creat = libc::O_CREAT as u64;
    let never = Conds { flags_clear: vec![creat], flags_set: vec![creat | libc::O_EXCL as u64], ..Conds::default() };
    assert!(never.contradiction().unwrap().contains("forbids"));
    let always = Conds { port: Some(vec![(0, 100), (101, 65535)]), ..Conds::default() };
    assert!(always.matches_everything() && always.contradiction().is_none());
    let only = Conds { port: Some(vec![(443, 443)]), ..Conds::default() };
    let rule = |g: Vec<Conds>| iou_policy::compile::compile_rule(&iou_policy::policy::Rule::AllowIf(g)).unwrap().insns;
    assert_eq!(rule(vec![never.clone(), only.clone()]), rule(vec![only]));
    assert_eq!(rule(vec![never.clone()]).len(), 1, "ret 0");
    assert_eq!(rule(vec![never, always]), vec![iou_policy::abi::SockFilter::new(6, 0, 0, 1)]);
}

/// Long prefix lists are decision trees too: a run of 64 IPv4 prefixes
/// or 16 IPv6 ones compares a few words, not every prefix, and each
/// prefix holds from its first address to its last, not one past.
#[test]
fn long_prefix_lists_are_decision_trees() {
    use std::net::Ipv6Addr;
    // 10.0.0.0/16, 10.2.0.0/16, ...: no two merge; and 16 /48s of
    // 2001:db8::/32, the first word shared.
    let v4: Vec<String> = (0..64).map(|i| format!("\"10.{}.0.0/16\"", 2 * i)).collect();
    let v6: Vec<String> = (0..16).map(|i| format!("\"2001:db8:{:x}::/48\"", 2 * i)).collect();
    for (list, key) in [(&v4, "ipv4"), (&v6, "ipv6")] {
        let text = format!("default = \"deny\"\n[op.connect]\nallow_if = {{ {key} = [{}] }}\n", list.join(", "));
        let (p, _) = load(&text);
        let f = compile(&p).unwrap();
        let conn = &f.iter().find(|x| x.opcode == IORING_OP_CONNECT).unwrap().program;
        assert!(longest_path(&conn.insns) <= 30, "{}", conn.listing());
        assert!(conn.insns.len() <= 2 * list.len() + 40, "{}", conn.listing());
    }
    let both = format!(
        "default = \"deny\"\n[op.connect]\nallow_if = {{ ipv4 = [{}], ipv6 = [{}] }}\n",
        v4.join(", "),
        v6.join(", ")
    );
    let (p, s) = load(&both);
    for i in 0..64u8 {
        let (inside, after) = (2 * i, 2 * i + 1);
        check(&p, &s, &Ctx::connect(2, 1, &[10, inside, 0, 0]), true);
        check(&p, &s, &Ctx::connect(2, 1, &[10, inside, 255, 255]), true);
        check(&p, &s, &Ctx::connect(2, 1, &[10, after, 0, 0]), false);
        check(&p, &s, &Ctx::connect(2, 1, &[10, inside.wrapping_sub(1), 255, 255]), false);
        check(&p, &s, &Ctx::connect(2, 1, &[inside, 10, 0, 0]), inside == 10);
    }
    for i in 0..16u16 {
        let at = |w: u16, rest: &str| format!("2001:db8:{w:x}:{rest}").parse::<Ipv6Addr>().unwrap().octets();
        check(&p, &s, &Ctx::connect(10, 1, &at(2 * i, ":")), true);
        check(&p, &s, &Ctx::connect(10, 1, &at(2 * i, "ffff:ffff:ffff:ffff:ffff")), true);
        check(&p, &s, &Ctx::connect(10, 1, &at(2 * i + 1, ":")), false);
        let other: Ipv6Addr = format!("2001:db9:{:x}::", 2 * i).parse().unwrap();
        check(&p, &s, &Ctx::connect(10, 1, &other.octets()), false);
    }
}
