//! Bad policy files: every error is reported with its line and the problem.
use iou_policy::parse::parse_policy;
use iou_policy::policy::{Action, Rule};

fn errors(text: &str) -> Vec<(usize, String)> {
    match parse_policy(text) {
        Ok(p) => panic!("accepted: {p:?}"),
        Err(e) => e.into_iter().map(|e| (e.line, e.msg)).collect(),
    }
}

fn one(text: &str, line: usize, needle: &str) {
    let e = errors(text);
    assert!(e.iter().any(|(l, m)| *l == line && m.contains(needle)), "want line {line} with {needle:?}, got {e:?}");
}

#[test]
fn good_file() {
    let p = parse_policy(include_str!("../examples/policy.toml")).unwrap();
    assert_eq!(p.default, Action::Deny);
    assert_eq!(p.rules.get(&22), Some(&Rule::Allow));
    assert!(matches!(p.rules.get(&16), Some(Rule::AllowIf(_))));
}

#[test]
fn string_shorthand_and_dotted_keys() {
    let p = parse_policy("default = \"allow\"\nop.read = \"deny\"\n[op.write]\naction = \"allow\"\n").unwrap();
    assert_eq!(p.rules.get(&22), Some(&Rule::Deny));
    assert_eq!(p.rules.get(&23), Some(&Rule::Allow));
}

#[test]
fn syntax_error_has_line() {
    one("default = \"deny\"\n\n[op.read\naction = \"allow\"\n", 3, "TOML syntax error");
}

#[test]
fn missing_default() {
    one("[op.read]\naction = \"allow\"\n", 1, "missing `default");
}

#[test]
fn bad_default() {
    one("\ndefault = \"maybe\"\n", 2, "expected \"allow\" or \"deny\"");
    one("default = 1\n", 1, "not an integer");
}

#[test]
fn unknown_top_level_key() {
    one("default = \"deny\"\nfoo = 1\n", 2, "unknown top-level key `foo`");
}

#[test]
fn unknown_opcode() {
    one("default = \"deny\"\n[op.raed]\naction = \"allow\"\n", 2, "unknown opcode `raed`");
    one("default = \"deny\"\n[op.open]\naction = \"allow\"\n", 2, "did you mean `openat`");
}

#[test]
fn bad_action() {
    one("default = \"deny\"\n[op.read]\naction = \"permit\"\n", 3, "action \"permit\"");
}

#[test]
fn both_action_and_allow_if() {
    one(
        "default = \"deny\"\n[op.socket]\naction = \"allow\"\nallow_if = { family = [\"inet\"] }\n",
        4,
        "either `action` or `allow_if`",
    );
}

#[test]
fn neither_action_nor_allow_if() {
    one("default = \"deny\"\n[op.read]\n", 2, "needs `action");
}

#[test]
fn condition_on_wrong_opcode() {
    one(
        "default = \"deny\"\n[op.read]\nallow_if = { port = [\"443\"] }\n",
        3,
        "condition `port` does not apply to IORING_OP_READ (only to connect)",
    );
    one(
        "default = \"deny\"\n[op.openat]\nallow_if = { resolve_set = [\"RESOLVE_BENEATH\"] }\n",
        3,
        "does not apply to IORING_OP_OPENAT (only to openat2)",
    );
}

#[test]
fn unknown_condition() {
    one("default = \"deny\"\n[op.connect]\nallow_if = { prot = [1] }\n", 3, "unknown condition `prot`");
}

#[test]
fn bad_values_name_their_line() {
    let text = r#"default = "deny"
[op.socket.allow_if]
family = ["inet",
          "inet7"]
type = ["stream", 99]
[op.connect.allow_if]
port = ["443", "80-20", "http"]
ipv4 = ["10.0.0.1/8", "300.1.1.1", "1.2.3.4/33"]
ipv6 = ["fd00::/8", "fd00::1/8"]
[op.openat.allow_if]
flags_clear = ["O_CRAET", 0, -1]
"#;
    let e = errors(text);
    let has = |line: usize, needle: &str| {
        assert!(e.iter().any(|(l, m)| *l == line && m.contains(needle)), "line {line} {needle:?} in {e:?}")
    };
    has(4, "unknown address family \"inet7\"");
    has(5, "99 is out of range 0..=15");
    has(7, "range \"80-20\" is empty");
    has(7, "\"http\" is not a port");
    has(8, "10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)");
    has(8, "\"300.1.1.1\" is not an IPv4 address");
    has(8, "prefix length must be 0..=32");
    has(9, "fd00::1/8 has host bits set");
    has(11, "unknown open flag \"O_CRAET\"");
    has(11, "a mask of 0 means nothing");
    has(11, "-1 is out of range");
    assert_eq!(e.len(), 11, "{e:?}");
    // sorted by line
    assert!(e.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn empty_lists_and_empty_allow_if() {
    one("default = \"deny\"\n[op.socket]\nallow_if = { family = [] }\n", 3, "empty list");
    one("default = \"deny\"\n[op.socket]\nallow_if = {}\n", 3, "allow_if has no conditions");
}

#[test]
fn wrong_types() {
    one("default = \"deny\"\nop = 3\n", 2, "`op` must be a table");
    one("default = \"deny\"\n[op.socket]\nallow_if = { family = true }\n", 3, "must be a list");
    one("default = \"deny\"\n[op.socket]\nallow_if = { family = [1.5] }\n", 3, "not a float");
    one("default = \"deny\"\n[op]\nread = 5\n", 3, "op.read must be a table");
}

#[test]
fn list_limit() {
    let v: Vec<String> = (0..65).map(|i| i.to_string()).collect();
    let text = format!("default = \"deny\"\n[op.socket]\nallow_if = {{ protocol = [{}] }}\n", v.join(","));
    one(&text, 3, "has 65 entries, at most 64");
}

#[test]
fn names_are_flexible() {
    let p = parse_policy(
        "default = \"deny\"\n[op.socket]\nallow_if = { family = [\"AF_INET\", \"inet6\", 1], type = [\"SOCK_STREAM\"], protocol = [\"IPPROTO_TCP\"] }\n[op.connect]\nallow_if = { port = [443, \"1000 - 2000\"], ipv4 = [\"127.0.0.1\"] }\n",
    )
    .unwrap();
    let Some(Rule::AllowIf(g)) = p.rules.get(&45) else { panic!() };
    let c = &g[0];
    assert_eq!(c.family, Some(vec![2, 10, 1]));
    assert_eq!(c.sock_type, Some(vec![1]));
    assert_eq!(c.protocol, Some(vec![6]));
    let Some(Rule::AllowIf(g)) = p.rules.get(&16) else { panic!() };
    let c = &g[0];
    assert_eq!(c.port, Some(vec![(443, 443), (1000, 2000)]));
    assert_eq!(c.ipv4, Some(vec![(0x7f00_0001, 32)]));
}

#[test]
fn readme_example_parses() {
    let readme = include_str!("../README.md");
    let start = readme.find("```toml\n").unwrap() + 8;
    let end = start + readme[start..].find("```").unwrap();
    let p = parse_policy(&readme[start..end]).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(p.rules.get(&23), Some(&Rule::Allow));
    assert_eq!(p.rules.get(&22), Some(&Rule::Allow));
    assert_eq!(p.rules.get(&61), Some(&Rule::Allow));
    assert!(matches!(p.rules.get(&16), Some(Rule::AllowIf(g)) if g.len() == 2));
    assert_eq!(p.rules.len(), 6);
}

#[test]
fn restrict_table() {
    use iou_policy::abi::*;
    use iou_policy::policy::Restrict;
    let p = parse_policy(
        "default = \"allow\"\n[restrict]\nsqe_ops = [\"read\", \"IORING_OP_WRITE\", \"nop\"]\n\
         register_ops = [\"register_buffers\", \"IORING_UNREGISTER_BUFFERS\"]\n\
         sqe_flags_allowed = [\"async\", \"IOSQE_IO_LINK\"]\nsqe_flags_required = [\"IOSQE_ASYNC\"]\n",
    )
    .unwrap();
    assert!(p.rules.is_empty());
    let r = p.restrict.clone().unwrap();
    assert_eq!(
        r,
        Restrict {
            sqe_ops: vec![22, 23, 0],
            register_ops: vec![0, 1],
            sqe_flags_allowed: 0x14,
            sqe_flags_required: 0x10
        }
    );
    let e = r.entries();
    assert_eq!(e.len(), 7);
    assert_eq!((e[0].opcode, e[0].arg), (IORING_RESTRICTION_SQE_OP, 22));
    assert_eq!((e[3].opcode, e[3].arg), (IORING_RESTRICTION_REGISTER_OP, 0));
    assert_eq!((e[5].opcode, e[5].arg), (IORING_RESTRICTION_SQE_FLAGS_ALLOWED, 0x14));
    assert_eq!((e[6].opcode, e[6].arg), (IORING_RESTRICTION_SQE_FLAGS_REQUIRED, 0x10));
    // The kernel's rule: listed ops only, required flags present, no others.
    assert!(r.allows_sqe(22, 0x10));
    assert!(r.allows_sqe(22, 0x14));
    assert!(!r.allows_sqe(22, 0), "IOSQE_ASYNC is required");
    assert!(!r.allows_sqe(22, 0x12), "IO_DRAIN is not allowed");
    assert!(!r.allows_sqe(18, 0x10), "OPENAT is not listed");
    assert!(r.allows_register(1) && !r.allows_register(2));
    // Without [restrict] there are none.
    assert_eq!(parse_policy("default = \"allow\"\n").unwrap().restrict, None);
}

#[test]
fn restrict_errors_have_lines() {
    let text = "default = \"allow\"\n[restrict]\nsqe_ops = [\"raed\", \"read\", \"read\"]\nregister_ops = [\"reg\", 3]\n\
                sqe_flags_allowed = [\"IOSQE_NOPE\"]\nsqe_flags_required = 0\nextra = 1\n";
    one(text, 3, "restrict.sqe_ops: unknown opcode `raed`");
    one(text, 3, "restrict.sqe_ops: `read` is listed twice");
    one(text, 4, "restrict.register_ops: unknown register opcode `reg`");
    one(text, 4, "restrict.register_ops: expected an opcode name, not an integer");
    one(text, 5, "restrict.sqe_flags_allowed: unknown SQE flag \"IOSQE_NOPE\"");
    one(text, 6, "a mask of 0 means nothing");
    one(text, 7, "restrict: unknown key `extra`");
    one("default = \"allow\"\n[restrict]\nsqe_ops = []\n", 3, "restrict.sqe_ops is empty");
    one("default = \"allow\"\n[restrict]\nregister_ops = [\"register_files\"]\n", 2, "restrict: needs `sqe_ops");
    one("default = \"allow\"\nrestrict = 1\n", 2, "`restrict` must be a table");
}

#[test]
fn readme_restrict_example_parses() {
    let readme = include_str!("../README.md");
    let at = readme.find("```toml\n[restrict]").unwrap() + 8;
    let end = at + readme[at..].find("```").unwrap();
    let p = parse_policy(&format!("default = \"allow\"\n{}", &readme[at..end])).unwrap_or_else(|e| panic!("{e:?}"));
    let r = p.restrict.unwrap();
    assert_eq!(r.sqe_ops, vec![22, 23, 18, 19]);
    assert_eq!(r.register_ops, vec![0]);
    assert_eq!((r.sqe_flags_allowed, r.sqe_flags_required), (0x14, 0));
}

/// A parse error is a `std::error::Error`: it boxes into `dyn Error` and
/// its message carries line and problem.
#[test]
fn errors_are_std_errors() {
    let e = parse_policy("default = \"maybe\"\n").unwrap_err().remove(0);
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    let s = boxed.to_string();
    assert!(s.starts_with("line 1") && s.contains("expected \"allow\" or \"deny\""), "{s}");
}

/// `allow_if` as an array of tables: an OR of condition groups, in any of
/// TOML's spellings; each group keeps its own errors' names.
#[test]
fn allow_if_groups() {
    let spellings = [
        "default = \"deny\"\n[[op.connect.allow_if]]\nport = [\"443\"]\n[[op.connect.allow_if]]\nport = [\"80\"]\n",
        "default = \"deny\"\n[op.connect]\nallow_if = [{ port = [\"443\"] }, { port = [\"80\"] }]\n",
        "default = \"deny\"\nop.connect.allow_if = [{ port = 443 }, { port = 80 }]\n",
    ];
    for text in spellings {
        let p = parse_policy(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let Some(Rule::AllowIf(g)) = p.rules.get(&16) else { panic!("{p:?}") };
        assert_eq!(g.len(), 2, "{text}");
        assert_eq!(g[0].port, Some(vec![(443, 443)]));
        assert_eq!(g[1].port, Some(vec![(80, 80)]));
    }
    one(
        "default = \"deny\"\n[[op.connect.allow_if]]\nport = [\"443\"]\n[[op.connect.allow_if]]\nport = [\"x\"]\n",
        5,
        "op.connect.allow_if[1].port: \"x\" is not a port",
    );
    one("default = \"deny\"\n[op.connect]\nallow_if = []\n", 3, "allow_if is an empty array");
    one("default = \"deny\"\n[op.connect]\nallow_if = [1]\n", 3, "allow_if lists tables of conditions, not an integer");
    one(
        "default = \"deny\"\n[[op.connect.allow_if]]\n[[op.connect.allow_if]]\nport = 1\n",
        2,
        "allow_if[0] has no conditions",
    );
}

/// Opcodes by number, and the opcodes of Linux 6.13 to 7.0 by name.
#[test]
fn opcodes_by_number_and_newer_names() {
    let p = parse_policy("default = \"allow\"\nop.60 = \"deny\"\nop.pipe = \"deny\"\nop.200 = \"deny\"\n").unwrap();
    assert_eq!(p.rules.keys().copied().collect::<Vec<_>>(), vec![60, 62, 200]);
    one("default = \"allow\"\nop.256 = \"deny\"\n", 2, "unknown opcode `256`");
    one("default = \"allow\"\nop.60 = \"deny\"\nop.readv_fixed = \"deny\"\n", 3, "given twice");
}

/// Every error has line and column; typos get the nearest valid name.
#[test]
fn columns_and_suggestions() {
    let text = "default = \"deny\"\n[op.openat]\nallow_if = { flags_clear = [\"O_CRAET\"] }\n[op.socket]\n\
                allow_if = { family = [\"inet\"], type = [\"stram\"] }\n";
    let e = parse_policy(text).unwrap_err();
    assert_eq!((e[0].line, e[0].col), (3, 29), "{e:?}");
    assert!(e[0].msg.contains("unknown open flag \"O_CRAET\" (did you mean `O_CREAT`?)"), "{e:?}");
    assert_eq!((e[1].line, e[1].col), (5, 41), "{e:?}");
    assert!(e[1].msg.contains("(did you mean `stream`?)"), "{e:?}");
    // Too far from anything: no suggestion.
    let e = parse_policy("default = \"deny\"\nop.frobnicate = \"allow\"\n").unwrap_err();
    assert!(!e[0].msg.contains("did you mean"), "{e:?}");
    assert_eq!(iou_policy::parse::suggest("raed", ["read", "write"]), " (did you mean `read`?)");
    assert_eq!(iou_policy::parse::suggest("opneat2", ["openat", "openat2"]), " (did you mean `openat2`?)");
}

/// Warnings: rules that do nothing, groups that hold always or repeat,
/// entries listed twice or overlapping; contradictions are errors.
#[test]
fn warnings_and_contradictions() {
    let c = iou_policy::parse::check_policy(
        "default = \"allow\"\nop.read = \"allow\"\n[[op.connect.allow_if]]\nport = [\"1-100\", \"50\"]\n\
         [[op.connect.allow_if]]\nport = [\"50\", \"1-100\"]\n[op.socket]\nallow_if = { family = [\"inet\", 2] }\n\
         [op.bind]\nallow_if = { port = [\"0-65535\"] }\n",
    );
    let w: Vec<(usize, &str)> = c.warnings.iter().map(|w| (w.line, w.msg.as_str())).collect();
    assert!(c.result.is_err(), "port does not apply to BIND");
    let c = iou_policy::parse::check_policy(
        "default = \"allow\"\nop.read = \"allow\"\n[[op.connect.allow_if]]\nport = [\"1-100\", \"50\"]\n\
         [[op.connect.allow_if]]\nport = [\"50\", \"1-100\"]\n[op.socket]\nallow_if = { family = [\"inet\", 2] }\n",
    );
    assert!(c.result.is_ok(), "{:?}", c.result);
    let w2: Vec<(usize, &str)> = c.warnings.iter().map(|w| (w.line, w.msg.as_str())).collect();
    assert!(w.len() >= w2.len());
    assert_eq!(w2.len(), 5, "{w2:?}");
    assert!(w2[0].0 == 2 && w2[0].1.contains("the rule does nothing"), "{w2:?}");
    assert!(w2[1].0 == 4 && w2[1].1.contains("50 overlaps 1-100"), "{w2:?}");
    assert!(w2[2].0 == 5 && w2[2].1.contains("allow_if[1] is the same as allow_if[0]"), "{w2:?}");
    assert!(w2[3].0 == 6 && w2[3].1.contains("1-100 overlaps 50"), "{w2:?}");
    assert!(w2[4].0 == 8 && w2[4].1.contains("2 is listed twice"), "{w2:?}");
    let e = parse_policy(
        "default = \"deny\"\n[op.openat]\nallow_if = { flags_set = [\"O_CREAT\"], flags_clear = [\"O_CREAT\"] }\n",
    )
    .unwrap_err();
    assert!(e[0].msg.contains("allow_if can never hold: `flags_clear` forbids"), "{e:?}");
}

/// Line numbers cost one pass over the text, however many errors: a file
/// with 20,000 errors is located with work linear in its size (counted,
/// not timed), and every error is there, with its own line.
#[test]
fn twenty_thousand_errors_in_linear_work() {
    let mut text = String::from("default = \"deny\"\n");
    for i in 0..20_000 {
        text.push_str(&format!("op.bogus_{i} = \"allow\"\n"));
    }
    let c = iou_policy::parse::check_policy(&text);
    let e = c.result.unwrap_err();
    assert_eq!(e.len(), 20_000);
    assert!(e.iter().enumerate().all(|(i, e)| e.line == i + 2 && e.col == 4), "{:?}", &e[..3]);
    assert!(c.locate_work <= text.len(), "{} bytes swept for a {}-byte file", c.locate_work, text.len());
}

/// The warnings about redundant groups of `allow_if = [{ a }, { b }]` on
/// `op`.
fn redundant(op: &str, a: &str, b: &str) -> Vec<String> {
    let text = format!("default = \"deny\"\n[op.{op}]\nallow_if = [{{ {a} }}, {{ {b} }}]\n");
    let c = iou_policy::parse::check_policy(&text);
    assert!(c.result.is_ok(), "{text}: {:?}", c.result);
    c.warnings.into_iter().map(|w| w.msg).filter(|m| m.contains("adds nothing")).collect()
}

/// A group contained in another (every request it allows, the other
/// allows too) is redundant under OR: warned about, with the containing
/// group named; groups that only overlap are not.
#[test]
fn groups_contained_in_another() {
    let creat = libc::O_CREAT;
    let cloexec_creat = libc::O_CLOEXEC | libc::O_CREAT;
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        (
            "connect",
            "port = [\"443\"], ipv4 = [\"10.1.0.0/16\"]",
            "port = [\"400-500\"], ipv4 = [\"10.0.0.0/8\"]",
            Some("0 in 1"),
        ),
        ("connect", "ipv4 = [\"10.0.0.0/8\"]", "ipv4 = [\"10.0.0.0/16\"]", Some("1 in 0")),
        ("connect", "ipv4 = [\"10.0.0.0/8\"]", "ipv4 = [\"10.0.0.0/9\", \"10.128.0.0/9\"]", Some("same")),
        ("connect", "ipv6 = [\"fd00::/8\"]", "ipv4 = [\"10.0.0.0/8\"], ipv6 = [\"fd00::/16\"]", None),
        ("connect", "family = [\"inet\"], port = [\"443\"]", "ipv4 = [\"0.0.0.0/0\"]", Some("0 in 1")),
        ("connect", "ipv4 = [\"10.0.0.0/8\"]", "family = [\"inet\", \"inet6\"]", Some("0 in 1")),
        ("connect", "family = [\"inet\"]", "ipv4 = [\"10.0.0.0/8\"]", Some("1 in 0")),
        ("connect", "family = [\"unix\", \"inet\"]", "ipv4 = [\"0.0.0.0/0\"]", Some("1 in 0")),
        ("connect", "port = [\"1-100\"]", "port = [\"1-50\", \"51-100\"]", Some("same")),
        ("openat", "flags_clear = [\"O_CREAT\"]", "flags_clear = [\"O_CREAT\", \"O_TRUNC\"]", Some("1 in 0")),
        ("openat", "flags_set = [\"O_CLOEXEC\", \"O_DIRECTORY\"]", "flags_set = [\"O_CLOEXEC\"]", Some("0 in 1")),
        // O_CLOEXEC is always set, so forbidding O_CLOEXEC|O_CREAT
        // forbids O_CREAT.
        (
            "openat",
            &format!("flags_set = [\"O_CLOEXEC\"], flags_clear = [{cloexec_creat}]"),
            "flags_clear = [\"O_CREAT\"]",
            Some("0 in 1"),
        ),
        ("openat", &format!("flags_clear = [{cloexec_creat}]"), "flags_clear = [\"O_CREAT\"]", Some("1 in 0")),
        (
            "openat2",
            "resolve_set = [\"RESOLVE_BENEATH\"], mode_clear = [\"S_ISUID\"]",
            "resolve_set = [\"RESOLVE_BENEATH\"]",
            Some("0 in 1"),
        ),
        ("socket", "type = [\"stream\"], protocol = [\"tcp\"]", "type = [\"stream\", \"dgram\"]", Some("0 in 1")),
        ("read", "sqe_flags_clear = [\"async\", \"IOSQE_IO_LINK\"]", "sqe_flags_clear = [\"async\"]", Some("0 in 1")),
        // Overlapping, neither inside the other.
        (
            "connect",
            "port = [\"443\", \"8000\"], ipv4 = [\"10.0.0.0/8\"]",
            "port = [\"443\"], ipv4 = [\"10.0.0.0/8\", \"192.168.0.0/16\"]",
            None,
        ),
        ("connect", "port = [\"1-100\"]", "port = [\"50-150\"]", None),
        ("openat", &format!("flags_clear = [{creat}]"), "flags_clear = [\"O_TRUNC\"]", None),
        ("socket", "type = [\"stream\"]", "protocol = [\"tcp\"]", None),
        ("read", "sqe_flags_clear = [\"async\"]", "sqe_flags_clear = [\"IOSQE_IO_LINK\"]", None),
    ];
    for (op, a, b, want) in cases {
        let got = redundant(op, a, b);
        let want = match want {
            None => vec![],
            Some("same") => vec![format!("op.{op}: allow_if[1] is the same as allow_if[0], so it adds nothing")],
            Some(w) => {
                let (i, j) = w.split_once(" in ").unwrap();
                vec![format!(
                    "op.{op}: allow_if[{i}] is contained in allow_if[{j}]: every request it allows, allow_if[{j}] \
                     allows too, so it adds nothing"
                )]
            }
        };
        assert_eq!(got, want, "{op}: {a} / {b}");
    }
}

/// The warning stands at the redundant group, its note at the group that
/// contains it, each with line and column, and both in file order of the
/// warnings.
#[test]
fn contained_group_warning_points_at_both_groups() {
    let c = iou_policy::parse::check_policy(
        "default = \"deny\"\n[[op.connect.allow_if]]\nport = [\"443\"]\nipv4 = [\"10.1.0.0/16\"]\n\
         [[op.connect.allow_if]]\nport = [\"8000\"]\n[[op.connect.allow_if]]\nport = [\"443\"]\nipv4 = [\"10.0.0.0/8\"]\n",
    );
    assert!(c.result.is_ok(), "{:?}", c.result);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    assert_eq!((w.line, w.col), (2, 1));
    assert!(w.msg.starts_with("op.connect: allow_if[0] is contained in allow_if[2]"), "{w:?}");
    let note = w.note.as_ref().expect("a note at the containing group");
    assert_eq!((note.line, note.col, note.msg.as_str()), (7, 1, "op.connect: allow_if[2] is here"));
    assert_eq!(
        w.to_string(),
        format!("line 2, column 1: {} (line 7, column 1: op.connect: allow_if[2] is here)", w.msg)
    );
}

/// Groups that fail to parse are not compared: the indices named are the
/// groups' own.
#[test]
fn redundant_groups_keep_their_indices() {
    let c = iou_policy::parse::check_policy(
        "default = \"deny\"\n[op.connect]\nallow_if = [{ port = [\"x\"] }, { port = [\"443\"] }, { port = [\"443\"] }]\n",
    );
    assert!(c.result.is_err());
    let w: Vec<&str> = c.warnings.iter().map(|w| w.msg.as_str()).collect();
    assert_eq!(w, ["op.connect: allow_if[2] is the same as allow_if[1], so it adds nothing"]);
}
