//! Policy files (TOML) -> [`Policy`], with every error reported with its
//! line number.
//!
//! ```toml
//! default = "deny"                     # or "allow": opcodes without a rule
//! [op.read]
//! action = "allow"                     # or "deny"
//! [op.openat]
//! allow_if = { flags_clear = ["O_CREAT"] }
//! [op.connect]
//! allow_if = { family = ["inet"], port = ["443"], ipv4 = ["10.0.0.0/8"] }
//! ```

use crate::names::{self, FAMILIES, MODE_BITS, OPEN_FLAGS, PROTOCOLS, RESOLVE_BITS, SOCK_TYPES, SQE_FLAGS};
use crate::opcodes::{self, OPCODE_NAMES};
use crate::policy::{Action, Conds, Field, Policy, Restrict, Rule};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use toml_edit::{Document, Item, TableLike, Value};

/// Longest list accepted for one condition (keeps filters short and every
/// conditional jump in range).
pub const MAX_LIST: usize = 64;
/// Longest list of IPv6 prefixes.
pub const MAX_IPV6: usize = 16;

/// One problem in a policy file (an error, or a warning from
/// [`check_policy`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    pub msg: String,
    /// Another place the message speaks of (the group that contains a
    /// redundant one), shown after it.
    pub note: Option<Note>,
}

/// A place a diagnostic points to besides its own, and what is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.col, self.msg)?;
        match &self.note {
            Some(n) => write!(f, " (line {}, column {}: {})", n.line, n.col, n.msg),
            None => Ok(()),
        }
    }
}

impl std::error::Error for PolicyError {}

/// What [`check_policy`] found: the policy or its errors, the warnings
/// (no-op and overlapping rules, redundant entries and groups), and how
/// many bytes locating them took (the text once, however many
/// diagnostics).
#[derive(Clone, Debug)]
pub struct Checked {
    pub result: Result<Policy, Vec<PolicyError>>,
    pub warnings: Vec<PolicyError>,
    pub locate_work: usize,
}

/// Line and column of each byte offset, in one forward sweep over the text
/// (the offsets sorted first): linear in the text, whatever their number.
/// Returns the positions in the order of `offsets`, and the bytes swept.
pub fn locate_all(text: &str, offsets: &[usize]) -> (Vec<(usize, usize)>, usize) {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|&i| offsets[i]);
    let mut out = vec![(1, 1); offsets.len()];
    let (mut line, mut col, mut work) = (1usize, 1usize, 0usize);
    let mut chars = text.char_indices().peekable();
    for i in order {
        let target = offsets[i].min(text.len());
        while let Some(&(at, c)) = chars.peek() {
            if at >= target {
                break;
            }
            chars.next();
            work += c.len_utf8();
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        out[i] = (line, col);
    }
    (out, work)
}

/// The candidate nearest to `name` (optimal string alignment distance:
/// insertions, deletions, substitutions and adjacent transpositions,
/// ignoring case), if it is near enough to be a typo, else one that
/// contains it: ` (did you mean `read`?)`; an empty string if none fits.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let lower = name.to_ascii_lowercase();
    let a = lower.as_bytes();
    // Near enough to be a typo: one edit in short names, two from six
    // characters, a third of the name beyond.
    let max = (a.len() / 3).max(1).max(if a.len() >= 6 { 2 } else { 1 });
    let mut best: Option<(usize, &str)> = None;
    let mut contains: Option<&str> = None;
    let mut row = [Vec::new(), Vec::new(), Vec::new()];
    for c in candidates {
        let b = c.to_ascii_lowercase();
        if contains.is_none() && a.len() >= 3 && b.contains(lower.as_str()) {
            contains = Some(c);
        }
        if b.len().abs_diff(a.len()) > max {
            continue;
        }
        let limit = best.map_or(max, |(d, _)| d - 1);
        if let Some(d) = osa(a, b.as_bytes(), limit, &mut row)
            && d > 0
        {
            best = Some((d, c));
        }
    }
    // Else a name that contains it (`open` -> `openat`).
    best.map(|(_, c)| c).or(contains).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
}

/// Optimal string alignment distance (edits and adjacent transpositions)
/// if it is at most `limit`: three rows at a time, stopping as soon as a
/// whole row exceeds the limit.
fn osa(a: &[u8], b: &[u8], limit: usize, rows: &mut [Vec<usize>; 3]) -> Option<usize> {
    let m = b.len();
    let [prev2, prev, cur] = rows;
    prev2.clear();
    prev2.resize(m + 1, 0);
    prev.clear();
    prev.extend(0..=m);
    cur.clear();
    cur.resize(m + 1, 0);
    for i in 1..=a.len() {
        cur[0] = i;
        let mut low = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
            low = low.min(d);
        }
        if low > limit {
            return None;
        }
        std::mem::swap(prev2, prev);
        std::mem::swap(prev, cur);
    }
    (prev[m] <= limit).then_some(prev[m])
}

/// A diagnostic before it is located: byte offset and message, and a
/// note's.
struct Raw {
    at: usize,
    msg: String,
    note: Option<(usize, String)>,
}

impl Raw {
    fn new(span: Option<Range<usize>>, msg: String) -> Raw {
        Raw { at: span.map_or(0, |r| r.start), msg, note: None }
    }
}

struct Parser {
    errors: Vec<Raw>,
    warnings: Vec<Raw>,
    /// Each rule's opcode, name as written and span, for warnings.
    rule_spans: Vec<(u8, String, Option<Range<usize>>)>,
}

fn item_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Value(v) => v.span(),
        Item::Table(t) => t.span(),
        Item::ArrayOfTables(a) => a.span(),
        Item::None => None,
    }
}

fn kind_of(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => value_kind(v),
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

fn known(table: &[(&str, impl Copy)]) -> String {
    let mut v: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    v.dedup();
    v.join(", ")
}

/// One group of an `allow_if` OR that parsed: its index, span and
/// conditions, also normalised.
struct Group {
    index: usize,
    span: Option<Range<usize>>,
    conds: Conds,
    tight: Conds,
}

/// The condition keys of `allow_if`.
const CONDITIONS: &[&str] = &[
    "sqe_flags_clear",
    "family",
    "type",
    "protocol",
    "flags_clear",
    "flags_set",
    "mode_clear",
    "mode_set",
    "resolve_clear",
    "resolve_set",
    "port",
    "ipv4",
    "ipv6",
];

/// Kinds of list entries.
#[derive(Clone, Copy)]
enum Kind {
    Family,
    SockType,
    Protocol,
    OpenFlag,
    Mode,
    Resolve,
    SqeFlag,
}

impl Parser {
    fn err(&mut self, span: Option<Range<usize>>, msg: impl Into<String>) {
        self.errors.push(Raw::new(span, msg.into()));
    }

    fn warn(&mut self, span: Option<Range<usize>>, msg: impl Into<String>) {
        self.warnings.push(Raw::new(span, msg.into()));
    }

    /// A warning with a note at another place.
    fn warn_with_note(&mut self, span: Option<Range<usize>>, msg: String, at: Option<Range<usize>>, note: String) {
        let at = at.map_or(0, |r| r.start);
        self.warnings.push(Raw { note: Some((at, note)), ..Raw::new(span, msg) });
    }

    fn key_span(tl: &dyn TableLike, key: &str) -> Option<Range<usize>> {
        tl.get_key_value(key).and_then(|(k, v)| k.span().or_else(|| item_span(v)))
    }

    fn policy(&mut self, doc: &Document<&str>) -> Option<Policy> {
        let root = doc.as_table();
        let mut default = None;
        let mut rules = BTreeMap::new();
        let mut restrict = None;
        for (key, item) in root.iter() {
            let span = Self::key_span(root, key);
            match key {
                "default" => match item.as_str() {
                    Some("allow") => default = Some(Action::Allow),
                    Some("deny") => default = Some(Action::Deny),
                    Some(s) => {
                        self.err(item_span(item).or(span), format!("default = \"{s}\": expected \"allow\" or \"deny\""))
                    }
                    None => self.err(
                        item_span(item).or(span),
                        format!("default must be the string \"allow\" or \"deny\", not {}", kind_of(item)),
                    ),
                },
                "op" => match item.as_table_like() {
                    Some(ops) => self.ops(ops, &mut rules),
                    None => self.err(span, format!("`op` must be a table of opcodes, not {}", kind_of(item))),
                },
                "restrict" => match item.as_table_like() {
                    Some(t) => restrict = self.restrict(t, item_span(item).or(span)),
                    None => self.err(span, format!("`restrict` must be a table, not {}", kind_of(item))),
                },
                other => self.err(
                    span,
                    format!(
                        "unknown top-level key `{other}`{} (expected `default`, `op.<opcode>` tables and `[restrict]`)",
                        suggest(other, ["default", "op", "restrict"])
                    ),
                ),
            }
        }
        if default.is_none() && !root.contains_key("default") {
            self.err(Some(0..0), "missing `default = \"allow\"` or `default = \"deny\"`");
        }
        let default = default?;
        for (op, name, span) in std::mem::take(&mut self.rule_spans) {
            let same = match (rules.get(&op), default) {
                (Some(Rule::Allow), Action::Allow) => "allow",
                (Some(Rule::Deny), Action::Deny) => "deny",
                _ => continue,
            };
            self.warn(
                span,
                format!("op.{name} = \"{same}\" is what `default = \"{same}\"` gives: the rule does nothing"),
            );
        }
        self.errors.is_empty().then_some(Policy { default, rules, restrict })
    }

    /// `[restrict]`: classic task restrictions.
    fn restrict(&mut self, t: &dyn TableLike, span: Option<Range<usize>>) -> Option<Restrict> {
        let before = self.errors.len();
        let mut r = Restrict::default();
        let mut have_ops = false;
        for (k, v) in t.iter() {
            let ks = Self::key_span(t, k);
            let what = format!("restrict.{k}");
            match k {
                "sqe_ops" | "register_ops" => {
                    let Some(entries) = self.entries("restrict", k, v, ks.clone()) else { continue };
                    let mut ops = Vec::new();
                    for e in &entries {
                        let Some(name) = e.as_str() else {
                            self.err(e.span(), format!("{what}: expected an opcode name, not {}", value_kind(e)));
                            continue;
                        };
                        let op = if k == "sqe_ops" {
                            opcodes::opcode_by_name(name)
                        } else {
                            opcodes::register_op_by_name(name)
                        };
                        match op {
                            Some(op) if !ops.contains(&op) => ops.push(op),
                            Some(_) => self.err(e.span(), format!("{what}: `{name}` is listed twice")),
                            None if k == "sqe_ops" => self.err(
                                e.span(),
                                format!(
                                    "{what}: unknown opcode `{name}`{}: use an IORING_OP_* name in lower case, e.g. read",
                                    suggest(name, OPCODE_NAMES.iter().copied())
                                ),
                            ),
                            None => self.err(
                                e.span(),
                                format!(
                                    "{what}: unknown register opcode `{name}`{}: use an IORING_REGISTER_* or \
                                     IORING_UNREGISTER_* name in lower case without IORING_, e.g. register_buffers",
                                    suggest(name, opcodes::REGISTER_OPS.iter().map(|r| r.0))
                                ),
                            ),
                        }
                    }
                    if k == "sqe_ops" {
                        if entries.is_empty() {
                            self.err(
                                ks,
                                "restrict.sqe_ops is empty: no request could be submitted (use default = \"deny\")",
                            );
                        }
                        have_ops = true;
                        r.sqe_ops = ops;
                    } else {
                        r.register_ops = ops;
                    }
                }
                "sqe_flags_allowed" | "sqe_flags_required" => {
                    let Some(entries) = self.entries("restrict", k, v, ks) else { continue };
                    let m = self.masks(&what, &entries, Kind::SqeFlag).into_iter().fold(0u64, |a, b| a | b) as u8;
                    if k == "sqe_flags_allowed" {
                        r.sqe_flags_allowed = m;
                    } else {
                        r.sqe_flags_required = m;
                    }
                }
                other => self.err(
                    ks,
                    format!(
                        "restrict: unknown key `{other}`{} (known: sqe_ops, register_ops, sqe_flags_allowed, \
                         sqe_flags_required)",
                        suggest(other, ["sqe_ops", "register_ops", "sqe_flags_allowed", "sqe_flags_required"])
                    ),
                ),
            }
        }
        if !have_ops && self.errors.len() == before {
            self.err(span, "restrict: needs `sqe_ops = [...]`, the opcodes the command may submit");
        }
        (self.errors.len() == before).then_some(r)
    }

    fn ops(&mut self, ops: &dyn TableLike, rules: &mut BTreeMap<u8, Rule>) {
        for (name, item) in ops.iter() {
            let span = Self::key_span(ops, name);
            let Some(op) = opcodes::opcode_by_name(name) else {
                let hint = suggest(name, OPCODE_NAMES.iter().copied());
                self.err(
                    span,
                    format!(
                        "unknown opcode `{name}`{hint}: use an IORING_OP_* name in lower case, e.g. read, openat, connect"
                    ),
                );
                continue;
            };
            if op as u32 >= opcodes::IORING_OP_LAST {
                self.warn(
                    span.clone(),
                    format!(
                        "opcode {op} is past the last one this tool knows ({}, Linux 7.0's): only a newer kernel \
                         has it",
                        opcodes::IORING_OP_LAST - 1
                    ),
                );
            }
            if rules.contains_key(&op) {
                self.err(span, format!("opcode `{name}` given twice"));
                continue;
            }
            if let Some(rule) = self.rule(op, name, item, span.clone()) {
                self.rule_spans.push((op, name.to_string(), span));
                rules.insert(op, rule);
            }
        }
    }

    fn action(&mut self, item: &Item, span: Option<Range<usize>>, ctx: &str) -> Option<Rule> {
        match item.as_str() {
            Some("allow") => Some(Rule::Allow),
            Some("deny") => Some(Rule::Deny),
            Some(s) => {
                self.err(item_span(item).or(span), format!("{ctx}: action \"{s}\" is not \"allow\" or \"deny\""));
                None
            }
            None => {
                self.err(
                    item_span(item).or(span),
                    format!("{ctx}: action must be \"allow\" or \"deny\", not {}", kind_of(item)),
                );
                None
            }
        }
    }

    fn rule(&mut self, op: u8, name: &str, item: &Item, span: Option<Range<usize>>) -> Option<Rule> {
        let ctx = format!("op.{name}");
        if item.is_str() {
            return self.action(item, span, &ctx);
        }
        let Some(t) = item.as_table_like() else {
            self.err(
                item_span(item).or(span),
                format!(
                    "{ctx} must be a table with `action` or `allow_if` (or the string \"allow\"/\"deny\"), not {}",
                    kind_of(item)
                ),
            );
            return None;
        };
        let mut action = None;
        let mut cond = None;
        let mut bad = false;
        for (k, v) in t.iter() {
            let ks = Self::key_span(t, k);
            match k {
                "action" => action = Some((v, ks)),
                "allow_if" => cond = Some((v, ks)),
                other => {
                    let hint = suggest(other, ["action", "allow_if"]);
                    self.err(ks, format!("{ctx}: unknown key `{other}`{hint} (expected `action` or `allow_if`)"));
                    bad = true;
                }
            }
        }
        match (action, cond) {
            (Some(_), Some((_, ks))) => {
                self.err(ks, format!("{ctx}: give either `action` or `allow_if`, not both"));
                None
            }
            (Some((v, ks)), None) => {
                let r = self.action(v, ks, &ctx);
                if bad { None } else { r }
            }
            (None, Some((v, ks))) => {
                let g = self.groups(op, &ctx, v, ks);
                if bad { None } else { g.map(Rule::AllowIf) }
            }
            (None, None) => {
                if !bad {
                    self.err(span, format!("{ctx}: needs `action = \"allow\"|\"deny\"` or `allow_if = {{ ... }}`"));
                }
                None
            }
        }
    }

    /// `allow_if`: one table of conditions, or an array of them (`[[op.X.allow_if]]`
    /// or `allow_if = [{ ... }, { ... }]`), of which one must hold.
    fn groups(&mut self, op: u8, ctx: &str, item: &Item, span: Option<Range<usize>>) -> Option<Vec<Conds>> {
        let tables: Vec<(&dyn TableLike, Option<Range<usize>>)> = match item {
            Item::ArrayOfTables(a) => a.iter().map(|t| (t as &dyn TableLike, t.span())).collect(),
            Item::Value(Value::Array(a)) => {
                let mut v = Vec::new();
                for e in a.iter() {
                    match e.as_inline_table() {
                        Some(t) => v.push((t as &dyn TableLike, e.span())),
                        None => self.err(
                            e.span(),
                            format!("{ctx}: allow_if lists tables of conditions, not {}", value_kind(e)),
                        ),
                    }
                }
                v
            }
            _ => match item.as_table_like() {
                Some(t) => return self.conds(op, ctx, "allow_if", t, item_span(item).or(span)).map(|c| vec![c]),
                None => {
                    self.err(
                        item_span(item).or(span),
                        format!("{ctx}: allow_if must be a table or an array of tables, not {}", kind_of(item)),
                    );
                    return None;
                }
            },
        };
        if tables.is_empty() {
            self.err(item_span(item).or(span), format!("{ctx}: allow_if is an empty array (use action = \"deny\")"));
            return None;
        }
        let before = self.errors.len();
        let mut groups = Vec::new();
        for (i, (t, tspan)) in tables.into_iter().enumerate() {
            let tspan = tspan.or(span.clone());
            if let Some(c) = self.conds(op, ctx, &format!("allow_if[{i}]"), t, tspan.clone()) {
                groups.push(Group { index: i, span: tspan, tight: c.normalized(), conds: c });
            }
        }
        self.redundant_groups(ctx, &groups);
        (self.errors.len() == before).then(|| groups.into_iter().map(|g| g.conds).collect())
    }

    /// Warn about each group that adds nothing to the OR, with a note at
    /// the group that makes it redundant: one the same as an earlier group
    /// (they allow the same requests), or contained in another (every
    /// request it allows, the other allows too).
    fn redundant_groups(&mut self, ctx: &str, groups: &[Group]) {
        for g in groups {
            let same = |o: &&Group| g.tight.tight_within(&o.tight) && o.tight.tight_within(&g.tight);
            let wider = |o: &&Group| o.index != g.index && g.tight.tight_within(&o.tight) && !same(o);
            let (o, how) = if let Some(o) = groups.iter().take_while(|o| o.index < g.index).find(same) {
                (o, format!("is the same as allow_if[{}]", o.index))
            } else if let Some(o) = groups.iter().find(wider) {
                let j = o.index;
                (o, format!("is contained in allow_if[{j}]: every request it allows, allow_if[{j}] allows too"))
            } else {
                continue;
            };
            self.warn_with_note(
                g.span.clone(),
                format!("{ctx}: allow_if[{}] {how}, so it adds nothing", g.index),
                o.span.clone(),
                format!("{ctx}: allow_if[{}] is here", o.index),
            );
        }
    }

    /// One table of conditions, all of which must hold. `name` is what
    /// messages call it (`allow_if`, `allow_if[1]`).
    fn conds(&mut self, op: u8, ctx: &str, name: &str, t: &dyn TableLike, span: Option<Range<usize>>) -> Option<Conds> {
        let before = self.errors.len();
        let mut c = Conds::default();
        let opname = opcodes::opcode_name(op).unwrap_or("?").to_ascii_uppercase();
        for (k, v) in t.iter() {
            let ks = Self::key_span(t, k);
            let field = match k {
                "sqe_flags_clear" => Field::SqeFlags,
                "family" => Field::Family,
                "type" => Field::SockType,
                "protocol" => Field::Protocol,
                "flags_clear" | "flags_set" => Field::OpenFlags,
                "mode_clear" | "mode_set" => Field::Mode,
                "resolve_clear" | "resolve_set" => Field::Resolve,
                "port" => Field::Port,
                "ipv4" | "ipv6" => Field::Addr,
                other => {
                    self.err(
                        ks,
                        format!(
                            "{ctx}: unknown condition `{other}`{} (known: sqe_flags_clear, family, type, protocol, \
                             flags_clear, flags_set, mode_clear, mode_set, resolve_clear, resolve_set, port, ipv4, ipv6)",
                            suggest(other, CONDITIONS.iter().copied())
                        ),
                    );
                    continue;
                }
            };
            if !field.applies_to(op) {
                let applies: Vec<&str> = OPCODE_NAMES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| field.applies_to(*i as u8))
                    .map(|(_, n)| *n)
                    .collect();
                self.err(
                    ks,
                    format!(
                        "{ctx}: condition `{k}` does not apply to IORING_OP_{opname} (only to {})",
                        applies.join(", ")
                    ),
                );
                continue;
            }
            let Some(entries) = self.entries(ctx, k, v, ks.clone()) else { continue };
            let limit = if k == "ipv6" { MAX_IPV6 } else { MAX_LIST };
            if entries.len() > limit {
                self.err(
                    ks.clone(),
                    format!("{ctx}: `{k}` has {} entries, at most {limit} are supported", entries.len()),
                );
                continue;
            }
            if entries.is_empty() {
                self.err(
                    ks.clone(),
                    format!("{ctx}: `{k}` is an empty list (nothing would match: use action = \"deny\")"),
                );
                continue;
            }
            let what = format!("{ctx}.{name}.{k}");
            match k {
                "sqe_flags_clear" => {
                    c.sqe_flags_clear =
                        self.masks(&what, &entries, Kind::SqeFlag).into_iter().map(|m| m as u8).collect()
                }
                "family" => c.family = Some(self.names(&what, &entries, Kind::Family)),
                "type" => c.sock_type = Some(self.names(&what, &entries, Kind::SockType)),
                "protocol" => c.protocol = Some(self.names(&what, &entries, Kind::Protocol)),
                "flags_clear" => c.flags_clear = self.masks(&what, &entries, Kind::OpenFlag),
                "flags_set" => c.flags_set = self.masks(&what, &entries, Kind::OpenFlag),
                "mode_clear" => c.mode_clear = self.masks(&what, &entries, Kind::Mode),
                "mode_set" => c.mode_set = self.masks(&what, &entries, Kind::Mode),
                "resolve_clear" => c.resolve_clear = self.masks(&what, &entries, Kind::Resolve),
                "resolve_set" => c.resolve_set = self.masks(&what, &entries, Kind::Resolve),
                "port" => c.port = Some(self.ports(&what, &entries)),
                "ipv4" => c.ipv4 = Some(self.prefixes4(&what, &entries)),
                _ => c.ipv6 = Some(self.prefixes6(&what, &entries)),
            }
        }
        if self.errors.len() != before {
            return None;
        }
        if c.is_empty() {
            self.err(span, format!("{ctx}: {name} has no conditions (use action = \"allow\")"));
            return None;
        }
        if let Some(why) = c.contradiction() {
            self.err(span, format!("{ctx}: {name} can never hold: {why}"));
            return None;
        }
        if c.matches_everything() {
            self.warn(
                span,
                format!("{ctx}: {name} holds for every request: the rule allows everything (action = \"allow\")"),
            );
        }
        Some(c)
    }

    /// The entries of a condition: an array, or a single value.
    fn entries<'v>(
        &mut self,
        ctx: &str,
        key: &str,
        item: &'v Item,
        span: Option<Range<usize>>,
    ) -> Option<Vec<&'v Value>> {
        match item {
            Item::Value(Value::Array(a)) => Some(a.iter().collect()),
            Item::Value(v @ (Value::String(_) | Value::Integer(_))) => Some(vec![v]),
            other => {
                self.err(
                    item_span(other).or(span),
                    format!("{ctx}: `{key}` must be a list of strings or integers, not {}", kind_of(other)),
                );
                None
            }
        }
    }

    fn int(&mut self, what: &str, v: &Value, max: u64) -> Option<u64> {
        let i = v.as_integer()?;
        if i < 0 || i as u64 > max {
            self.err(v.span(), format!("{what}: {i} is out of range 0..={max}"));
            return None;
        }
        Some(i as u64)
    }

    /// Adds the value of name `s` (entry `v` of `what`) from `table` to `out`: a warning if it
    /// is there already, an error with the nearest names if it is unknown.
    fn named<T: Copy + PartialEq>(
        &mut self,
        what: &str,
        v: &Value,
        s: &str,
        (table, prefix, label): (&[(&str, T)], &str, &str),
        out: &mut Vec<T>,
    ) {
        match names::lookup(table, prefix, s) {
            Some(x) if out.contains(&x) => self.warn(v.span(), format!("{what}: \"{s}\" is listed twice")),
            Some(x) => out.push(x),
            None => self.err(
                v.span(),
                format!(
                    "{what}: unknown {label} \"{s}\"{} (known: {})",
                    suggest(s, table.iter().map(|e| e.0)),
                    known(table)
                ),
            ),
        }
    }

    fn names(&mut self, what: &str, entries: &[&Value], kind: Kind) -> Vec<u32> {
        let (table, prefix, label, max): (&[(&str, u32)], &str, &str, u64) = match kind {
            Kind::Family => (FAMILIES, "AF_", "address family", u32::MAX as u64),
            Kind::SockType => (SOCK_TYPES, "SOCK_", "socket type", names::SOCK_TYPE_MASK as u64),
            _ => (PROTOCOLS, "IPPROTO_", "protocol", u32::MAX as u64),
        };
        let mut out = Vec::new();
        for v in entries {
            if let Some(s) = v.as_str() {
                self.named(what, v, s, (table, prefix, label), &mut out);
            } else if v.as_integer().is_some() {
                if let Some(x) = self.int(what, v, max) {
                    if out.contains(&(x as u32)) {
                        self.warn(v.span(), format!("{what}: {x} is listed twice"));
                    } else {
                        out.push(x as u32);
                    }
                }
            } else {
                self.err(v.span(), format!("{what}: expected a {label} name or number, not {}", value_kind(v)));
            }
        }
        out
    }

    fn masks(&mut self, what: &str, entries: &[&Value], kind: Kind) -> Vec<u64> {
        let (table, prefix, label, max): (&[(&str, u64)], &str, &str, u64) = match kind {
            Kind::OpenFlag => (OPEN_FLAGS, "O_", "open flag", u64::MAX),
            Kind::Mode => (MODE_BITS, "S_", "mode bit", u64::MAX),
            Kind::Resolve => (RESOLVE_BITS, "RESOLVE_", "resolve flag", u64::MAX),
            _ => (SQE_FLAGS, "IOSQE_", "SQE flag", 0xff),
        };
        let mut out = Vec::new();
        for v in entries {
            if let Some(s) = v.as_str() {
                self.named(what, v, s, (table, prefix, label), &mut out);
            } else if v.as_integer().is_some() {
                if let Some(x) = self.int(what, v, max) {
                    if x == 0 {
                        self.err(v.span(), format!("{what}: a mask of 0 means nothing"));
                    } else if out.contains(&x) {
                        self.warn(v.span(), format!("{what}: {x:#x} is listed twice"));
                    } else {
                        out.push(x);
                    }
                }
            } else {
                self.err(v.span(), format!("{what}: expected a {label} name or number, not {}", value_kind(v)));
            }
        }
        out
    }

    /// Warn when a port range meets one listed before it.
    fn overlap(&mut self, what: &str, v: &Value, (lo, hi): (u16, u16), before: &[(u16, u16)]) {
        let show = |(a, b): (u16, u16)| if a == b { a.to_string() } else { format!("{a}-{b}") };
        if let Some(&o) = before.iter().find(|&&(a, b)| a <= hi && lo <= b) {
            let msg = if o == (lo, hi) { "is listed twice".to_string() } else { format!("overlaps {}", show(o)) };
            self.warn(v.span(), format!("{what}: {} {msg}", show((lo, hi))));
        }
    }

    fn ports(&mut self, what: &str, entries: &[&Value]) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        for v in entries {
            if v.as_integer().is_some() {
                if let Some(p) = self.int(what, v, 65535) {
                    self.overlap(what, v, (p as u16, p as u16), &out);
                    out.push((p as u16, p as u16));
                }
                continue;
            }
            let Some(s) = v.as_str() else {
                self.err(v.span(), format!("{what}: expected a port or \"low-high\" range, not {}", value_kind(v)));
                continue;
            };
            let parse = |t: &str| t.trim().parse::<u16>().ok();
            let r = match s.split_once('-') {
                Some((a, b)) => parse(a).zip(parse(b)),
                None => parse(s).map(|p| (p, p)),
            };
            match r {
                Some((lo, hi)) if lo <= hi => {
                    self.overlap(what, v, (lo, hi), &out);
                    out.push((lo, hi))
                }
                Some((lo, hi)) => self.err(v.span(), format!("{what}: range \"{s}\" is empty ({lo} > {hi})")),
                None => self.err(v.span(), format!("{what}: \"{s}\" is not a port (0..65535) or a \"low-high\" range")),
            }
        }
        out
    }

    fn prefix<A: std::str::FromStr>(&mut self, what: &str, v: &Value, bits: u8, fam: &str) -> Option<(A, u8)> {
        let Some(s) = v.as_str() else {
            self.err(v.span(), format!("{what}: expected an {fam} prefix string, not {}", value_kind(v)));
            return None;
        };
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => match l.trim().parse::<u8>() {
                Ok(n) if n <= bits => (a, n),
                _ => {
                    self.err(v.span(), format!("{what}: \"{s}\": prefix length must be 0..={bits}"));
                    return None;
                }
            },
            None => (s, bits),
        };
        match addr.trim().parse::<A>() {
            Ok(a) => Some((a, len)),
            Err(_) => {
                self.err(v.span(), format!("{what}: \"{s}\" is not an {fam} address or prefix"));
                None
            }
        }
    }

    fn prefixes4(&mut self, what: &str, entries: &[&Value]) -> Vec<(u32, u8)> {
        let mut out = Vec::new();
        for v in entries {
            if let Some((a, len)) = self.prefix::<Ipv4Addr>(what, v, 32, "IPv4") {
                let net = u32::from(a);
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len as u32) };
                if net & !mask != 0 {
                    self.err(
                        v.span(),
                        format!(
                            "{what}: {a}/{len} has host bits set (did you mean {}/{len}?)",
                            Ipv4Addr::from(net & mask)
                        ),
                    );
                    continue;
                }
                let inside =
                    |(n, l): (u32, u8), (m, k): (u32, u8)| k <= l && (k == 0 || (n ^ m) >> (32 - k as u32) == 0);
                if let Some(&(n, l)) = out.iter().find(|&&o| inside((net, len), o) || inside(o, (net, len))) {
                    self.warn(v.span(), format!("{what}: {a}/{len} overlaps {}/{l}", Ipv4Addr::from(n)));
                }
                out.push((net, len));
            }
        }
        out
    }

    fn prefixes6(&mut self, what: &str, entries: &[&Value]) -> Vec<(u128, u8)> {
        let mut out = Vec::new();
        for v in entries {
            if let Some((a, len)) = self.prefix::<Ipv6Addr>(what, v, 128, "IPv6") {
                let net = u128::from(a);
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - len as u32) };
                if net & !mask != 0 {
                    self.err(
                        v.span(),
                        format!(
                            "{what}: {a}/{len} has host bits set (did you mean {}/{len}?)",
                            Ipv6Addr::from(net & mask)
                        ),
                    );
                    continue;
                }
                let inside =
                    |(n, l): (u128, u8), (m, k): (u128, u8)| k <= l && (k == 0 || (n ^ m) >> (128 - k as u32) == 0);
                if let Some(&(n, l)) = out.iter().find(|&&o| inside((net, len), o) || inside(o, (net, len))) {
                    self.warn(v.span(), format!("{what}: {a}/{len} overlaps {}/{l}", Ipv6Addr::from(n)));
                }
                out.push((net, len));
            }
        }
        out
    }
}

/// Parse a policy file. On failure, every problem found, in file order.
pub fn parse_policy(text: &str) -> Result<Policy, Vec<PolicyError>> {
    check_policy(text).result
}

/// Parse a policy file as a linter: every error, and warnings about rules
/// that do nothing or overlap and groups another contains, each with line
/// and column (and a note's), in file order.
pub fn check_policy(text: &str) -> Checked {
    let mut p = Parser { errors: Vec::new(), warnings: Vec::new(), rule_spans: Vec::new() };
    let policy = match Document::parse(text) {
        Ok(doc) => p.policy(&doc),
        Err(e) => {
            let msg = e.message().trim().to_string();
            let span = e.span();
            let msg = match &span {
                // Name the key toml_edit only calls "duplicate key".
                Some(r) if msg.starts_with("duplicate key") => {
                    let key = text.get(r.clone()).unwrap_or("").trim().trim_matches(|c| c == '[' || c == ']').trim();
                    let line_start = text[..r.start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
                    let line_end = text[r.start.min(text.len())..].find('\n').map_or(text.len(), |i| r.start + i);
                    let whole = text[line_start..line_end].trim();
                    let key = if key.is_empty() { whole } else { key };
                    format!("duplicate key `{key}` (`{whole}`): a key may be given once per table")
                }
                _ => format!("TOML syntax error: {msg}"),
            };
            p.err(span, msg);
            None
        }
    };
    let raw: Vec<&Raw> = p.errors.iter().chain(&p.warnings).collect();
    let offsets: Vec<usize> =
        raw.iter().flat_map(|r| std::iter::once(r.at).chain(r.note.as_ref().map(|n| n.0))).collect();
    let (pos, locate_work) = locate_all(text, &offsets);
    let mut pos = pos.into_iter();
    let mut at = || pos.next().unwrap_or((1, 1));
    let mut located: Vec<(usize, PolicyError)> = raw
        .iter()
        .map(|r| {
            let (line, col) = at();
            let note = r.note.as_ref().map(|(_, msg)| {
                let (line, col) = at();
                Note { line, col, msg: msg.clone() }
            });
            (r.at, PolicyError { line, col, msg: r.msg.clone(), note })
        })
        .collect();
    let warnings: Vec<PolicyError> = {
        let mut w: Vec<(usize, PolicyError)> = located.split_off(p.errors.len());
        w.sort_by_key(|e| e.0);
        w.into_iter().map(|e| e.1).collect()
    };
    located.sort_by_key(|e| e.0);
    let errors: Vec<PolicyError> = located.into_iter().map(|e| e.1).collect();
    let result = match policy {
        Some(pol) if errors.is_empty() => Ok(pol),
        _ if errors.is_empty() => Err(vec![PolicyError { line: 1, col: 1, msg: "invalid policy".into(), note: None }]),
        _ => Err(errors),
    };
    Checked { result, warnings, locate_work }
}
