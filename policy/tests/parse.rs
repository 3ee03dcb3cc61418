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
    assert!(
        e.iter().any(|(l, m)| *l == line && m.contains(needle)),
        "want line {line} with {needle:?}, got {e:?}"
    );
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
    let Some(Rule::AllowIf(c)) = p.rules.get(&45) else { panic!() };
    assert_eq!(c.family, Some(vec![2, 10, 1]));
    assert_eq!(c.sock_type, Some(vec![1]));
    assert_eq!(c.protocol, Some(vec![6]));
    let Some(Rule::AllowIf(c)) = p.rules.get(&16) else { panic!() };
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
    assert_eq!(p.rules.len(), 4);
}
