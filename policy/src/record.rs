//! `iou-sandbox record`: the io_uring requests a process tree submitted,
//! counted per opcode from `io_uring_submit_req` lines, and the policy that
//! allows exactly those opcodes.
//!
//! Two streams of lines feed a [`Recording`]: the tree's own, from a trace
//! instance that follows the tree (`set_event_pid` and `event-fork`), and
//! those of SQ threads. An SQPOLL ring's requests are submitted by its SQ
//! thread, which the kernel starts without the fork tracepoint that
//! `event-fork` follows, so they come from a second instance that sees
//! every SQ thread's submissions (`sq_thread == 1`); those of rings the
//! tree created (`io_uring_create` in the first stream) count.
//!
//! Pure: [`crate::tracefs::record`] runs the command and feeds the lines.

use crate::opcodes;
use crate::trace::{self, Event};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;

/// Where a line comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The instance that follows the process tree.
    Tree,
    /// The instance that sees every SQ thread's submissions.
    SqThreads,
}

/// What was seen. Add lines with [`Recording::add`]; [`Recording::opcodes`]
/// counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// The tree's submissions (not through an SQ thread), per kernel
    /// opcode name.
    tree: BTreeMap<String, u64>,
    /// The rings the tree created.
    rings: BTreeSet<String>,
    /// Every SQ thread's submissions, per ring and kernel opcode name.
    sq: BTreeMap<(String, String), u64>,
    /// Tasks that submitted (the tree's, and SQ threads of its rings, by
    /// ring).
    tasks: BTreeSet<i32>,
    sq_tasks: BTreeMap<String, BTreeSet<i32>>,
    /// Events the kernel lost: (lines reporting a loss, events counted).
    lost: (u64, u64),
    /// Lines of the io_uring events that did not parse, and the first.
    unparsed: (u64, Option<String>),
}

/// The counts of a recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests per opcode.
    pub opcodes: BTreeMap<u8, u64>,
    /// Requests of opcodes the tool has no name for, by the kernel's name.
    pub unknown: BTreeMap<String, u64>,
    /// Tasks (threads) that submitted them.
    pub tasks: usize,
    /// Requests submitted by SQ threads (included in `opcodes`).
    pub by_sq_threads: u64,
}

impl Counts {
    /// Every request counted.
    pub fn requests(&self) -> u64 {
        self.opcodes.values().sum::<u64>() + self.unknown.values().sum::<u64>()
    }
}

impl Recording {
    pub fn new() -> Recording {
        Recording::default()
    }

    /// One line of `trace_pipe` from `source`. Lines of other events, the
    /// header and blank lines are ignored; `CPU:N [LOST M EVENTS]` is
    /// counted ([`Recording::lost`]).
    pub fn add(&mut self, source: Source, line: &str) {
        if let Some((_, n)) = trace::parse_lost(line) {
            self.lost.0 += 1;
            self.lost.1 += n.unwrap_or(0);
            return;
        }
        let Some(l) = trace::parse_line(line) else { return };
        let event = match Event::parse(&l) {
            Ok(e) => e,
            Err(_) => {
                self.unparsed.0 += 1;
                self.unparsed.1.get_or_insert_with(|| line.trim_end().to_string());
                return;
            }
        };
        match (source, event) {
            // An SQ thread's submissions are counted from the other
            // stream only, whatever this one sees.
            (Source::Tree, Event::SubmitReq(s)) if !s.sq_thread => {
                *self.tree.entry(s.opcode).or_default() += 1;
                self.tasks.insert(l.pid);
            }
            (Source::Tree, Event::Create(c)) => {
                self.rings.insert(c.ring);
            }
            (Source::SqThreads, Event::SubmitReq(s)) if s.sq_thread => {
                self.sq_tasks.entry(s.ring.clone()).or_default().insert(l.pid);
                *self.sq.entry((s.ring, s.opcode)).or_default() += 1;
            }
            _ => {}
        }
    }

    /// The requests of the tree, per opcode: its own submissions and those
    /// of the SQ threads of rings it created.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        let mut add = |name: &str, n: u64| match opcodes::opcode_by_kernel_name(name) {
            Some(op) => *c.opcodes.entry(op).or_default() += n,
            None => *c.unknown.entry(name.to_string()).or_default() += n,
        };
        for (name, &n) in &self.tree {
            add(name, n);
        }
        let mut by_sq = 0;
        for ((ring, name), &n) in &self.sq {
            if self.rings.contains(ring) {
                add(name, n);
                by_sq += n;
            }
        }
        let sq_tasks = self.sq_tasks.iter().filter(|(r, _)| self.rings.contains(*r)).flat_map(|(_, t)| t);
        c.tasks = self.tasks.iter().chain(sq_tasks).collect::<BTreeSet<_>>().len();
        c.by_sq_threads = by_sq;
        c
    }

    /// Events the kernel lost (its buffer filled faster than they were
    /// read): how many loss reports, and the events they count (some
    /// reports cannot count theirs). Opcodes may be missing if any.
    pub fn lost(&self) -> (u64, u64) {
        self.lost
    }

    /// io_uring event lines that did not parse, and the first of them.
    pub fn unparsed(&self) -> (u64, Option<&str>) {
        (self.unparsed.0, self.unparsed.1.as_deref())
    }

    /// The policy: `default = "deny"` and `op.NAME = "allow"` for each
    /// opcode seen, with a comment giving its count; a header comment
    /// names `command`. It is valid and `check` gives no warning for it.
    pub fn policy(&self, command: &str) -> String {
        let c = self.counts();
        let mut out = String::new();
        let n = c.requests();
        let ops = c.opcodes.len() + c.unknown.len();
        let mut head = format!(
            "Recorded by `iou-sandbox record` from the io_uring requests of `{command}` and its descendants: \
             {n} request{} of {ops} opcode{} from {} task{}",
            plural(n),
            plural(ops as u64),
            c.tasks,
            plural(c.tasks as u64),
        );
        if c.by_sq_threads > 0 {
            head.push_str(&format!(" ({} submitted by SQPOLL threads)", c.by_sq_threads));
        }
        head.push_str(
            ". It allows exactly the opcodes seen and denies every other one. Only requests that passed the \
             kernel's checks at submission are seen: one rejected before (an unknown opcode, bad fields, a filter \
             already in place) is not.",
        );
        out.push_str(&comment(&head));
        if self.lost.0 > 0 {
            out.push_str(&comment(&format!(
                "Warning: the kernel lost {} event(s) while recording: opcodes may be missing. Record again with a \
                 larger --buffer-kb.",
                self.lost.1
            )));
        }
        if c.opcodes.is_empty() {
            out.push_str("# No request was seen: every opcode is denied.\n");
        }
        out.push_str("default = \"deny\"\n");
        if !c.opcodes.is_empty() {
            out.push('\n');
        }
        let rules: Vec<(String, String)> = c
            .opcodes
            .iter()
            .map(|(&op, &k)| {
                let name = opcodes::opcode_name(op).map_or_else(|| op.to_string(), str::to_string);
                let kname = opcodes::kernel_opcode_name(op).unwrap_or_else(|| op.to_string());
                (format!("op.{name} = \"allow\""), format!("# {kname}: {k} request{}", plural(k)))
            })
            .collect();
        let width = rules.iter().map(|(r, _)| r.len()).max().unwrap_or(0);
        for (rule, note) in rules {
            out.push_str(&format!("{rule:<width$}  {note}\n"));
        }
        if !c.unknown.is_empty() {
            let names: Vec<String> = c.unknown.iter().map(|(n, k)| format!("{n} ({k})")).collect();
            out.push('\n');
            out.push_str(&comment(&format!(
                "Not allowed: opcodes this tool has no name for, by the kernel's name and count: {}.",
                names.join(", ")
            )));
        }
        out
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `text` as `# ` comment lines of at most 76 columns (a word longer than
/// that gets a line of its own).
fn comment(text: &str) -> String {
    comment_lines(text, "#")
}

/// `text` as TOML comment lines of at most 76 columns, the first starting
/// with `# `, the others with `cont` and a space (a word longer than a
/// line gets a line of its own).
pub fn comment_lines(text: &str, cont: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    let mut empty = true;
    for w in text.split_whitespace() {
        if line.len() + 1 + w.len() > 76 && !empty {
            out.push_str(&line);
            out.push('\n');
            line = String::from(cont);
        }
        line.push(' ');
        line.push_str(w);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// A command line as a shell would take it back, for a comment: words of
/// plain characters as they are, others in single quotes, with control
/// characters (which a TOML comment cannot hold) as `$'...'` escapes.
pub fn shell_words<S: AsRef<OsStr>>(args: &[S]) -> String {
    let word = |a: &S| {
        let s = a.as_ref().to_string_lossy();
        let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=,+@%-".contains(c);
        if !s.is_empty() && s.chars().all(plain) {
            s.into_owned()
        } else if s.chars().any(char::is_control) {
            let mut q = String::from("$'");
            for c in s.chars() {
                match c {
                    '\\' => q.push_str("\\\\"),
                    '\'' => q.push_str("\\'"),
                    '\n' => q.push_str("\\n"),
                    '\t' => q.push_str("\\t"),
                    c if c.is_control() => q.push_str(&format!("\\u{:04x}", c as u32)),
                    c => q.push(c),
                }
            }
            q.push('\'');
            q
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    args.iter().map(word).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::check_policy;
    use crate::policy::{Action, Rule};

    fn submit(pid: i32, ring: &str, op: &str, sq: bool) -> String {
        format!(
            "{:>16}-{pid:<7} [001] ..... {:>5}.{:06}: io_uring_submit_req: ring {ring}, req 00000000e1f3a9b2, \
             user_data 0x{pid:x}, opcode {op}, flags 0x0, sq_thread {}",
            if sq { format!("iou-sqp-{pid}") } else { "<...>".to_string() },
            pid,
            7,
            sq as i32
        )
    }

    fn create(pid: i32, ring: &str, flags: u32) -> String {
        format!(
            "a.out-{pid} [000] ..... 1.000000: io_uring_create: ring {ring}, fd 3 sq size 8, cq size 16, flags {flags:#x}"
        )
    }

    /// The policy, linted as `check` lints it: no error, no warning.
    fn checked(text: &str) -> crate::policy::Policy {
        let c = check_policy(text);
        assert!(c.warnings.is_empty(), "warnings {:?} for\n{text}", c.warnings);
        let p = c.result.unwrap_or_else(|e| panic!("errors {e:?} for\n{text}"));
        assert!(!p.allows_everything());
        p
    }

    #[test]
    fn counts_the_tree_and_its_sq_threads() {
        let mut r = Recording::new();
        for l in [
            "# tracer: nop".to_string(),
            create(100, "r1", 0),
            submit(100, "r1", "NOP", false),
            submit(100, "r1", "NOP", false),
            submit(101, "r2", "READ", false),
            submit(102, "r3", "EPOLL", false),
            create(100, "rsq", 2),
            // Seen by the tree's instance too: counted from the other.
            submit(103, "rsq", "READ", true),
            "CPU:0 [LOST 3 EVENTS]".to_string(),
            "a-1 [000] ..... 1.000000: io_uring_complete: ring 1, req 2, user_data 0x0, result 0, cflags 0x0".into(),
        ] {
            r.add(Source::Tree, &l);
        }
        for l in [
            submit(103, "rsq", "READ", true),
            submit(103, "rsq", "WRITE", true),
            // Another process's SQPOLL ring.
            submit(999, "other", "OPENAT", true),
            // Not an SQ thread's: the filter would not pass it.
            submit(104, "rsq", "FSYNC", false),
        ] {
            r.add(Source::SqThreads, &l);
        }
        let c = r.counts();
        assert_eq!(c.opcodes, BTreeMap::from([(0, 2), (22, 2), (23, 1), (29, 1)]));
        assert!(c.unknown.is_empty());
        assert_eq!((c.tasks, c.by_sq_threads, c.requests()), (4, 2, 6));
        assert_eq!(r.lost(), (1, 3));
        assert_eq!(r.unparsed(), (0, None));
    }

    #[test]
    fn unknown_and_malformed() {
        let mut r = Recording::new();
        r.add(Source::Tree, &submit(5, "r", "FROBNICATE", false));
        r.add(Source::Tree, &submit(5, "r", "NOP", false));
        let bad = "a-5 [000] ..... 1.000000: io_uring_submit_req: ring r, opcode NOP";
        r.add(Source::Tree, bad);
        r.add(Source::Tree, bad);
        let c = r.counts();
        assert_eq!(c.opcodes, BTreeMap::from([(0, 1)]));
        assert_eq!(c.unknown, BTreeMap::from([("FROBNICATE".to_string(), 1)]));
        assert_eq!(r.unparsed(), (2, Some(bad)));
        let text = r.policy("prog");
        assert!(text.contains("2 requests of 2 opcodes from 1 task."), "{text}");
        assert!(
            text.ends_with(
                "# Not allowed: opcodes this tool has no name for, by the kernel's name and\n# count: FROBNICATE (1).\n"
            ),
            "{text}"
        );
        let p = checked(&text);
        assert_eq!(p.rules.keys().copied().collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn policy_allows_exactly_what_was_seen() {
        let mut r = Recording::new();
        for (op, n) in [("NOP", 6), ("READ", 3), ("OPENAT2", 1)] {
            for _ in 0..n {
                r.add(Source::Tree, &submit(412, "r", op, false));
            }
        }
        r.add(Source::Tree, &submit(413, "r", "NOP", false));
        let text = r.policy("./prog --flag 'two words'");
        let want = "\
# Recorded by `iou-sandbox record` from the io_uring requests of `./prog
# --flag 'two words'` and its descendants: 11 requests of 3 opcodes from 2
# tasks. It allows exactly the opcodes seen and denies every other one. Only
# requests that passed the kernel's checks at submission are seen: one
# rejected before (an unknown opcode, bad fields, a filter already in place)
# is not.
default = \"deny\"

op.nop = \"allow\"      # NOP: 7 requests
op.read = \"allow\"     # READ: 3 requests
op.openat2 = \"allow\"  # OPENAT2: 1 request
";
        assert_eq!(text, want);
        let p = checked(&text);
        assert_eq!(p.default, Action::Deny);
        assert_eq!(p.rules, BTreeMap::from([(0, Rule::Allow), (22, Rule::Allow), (28, Rule::Allow)]));
    }

    /// Whatever was seen, the policy is one `check` accepts without a
    /// warning: every opcode the tool knows at once, none, lost events.
    #[test]
    fn every_policy_checks_clean() {
        let mut all = Recording::new();
        for op in 0..opcodes::IORING_OP_LAST as u8 {
            all.add(Source::Tree, &submit(1, "r", &opcodes::kernel_opcode_name(op).unwrap(), false));
        }
        let p = checked(&all.policy("x"));
        assert_eq!(p.rules.len(), opcodes::IORING_OP_LAST as usize);
        let mut none = Recording::new();
        none.add(Source::Tree, "CPU:0 [LOST EVENTS]");
        let text = none.policy("true");
        assert!(text.contains("# Warning: the kernel lost 0 event(s)"), "{text}");
        assert!(text.ends_with("# No request was seen: every opcode is denied.\ndefault = \"deny\"\n"), "{text}");
        let p = checked(&text);
        assert!(p.rules.is_empty());
        // A command with a newline cannot break out of its comment.
        let text = Recording::new().policy(&shell_words(&["sh", "-c", "echo a\nop.openat = \"allow\""]));
        assert!(checked(&text).rules.is_empty(), "{text}");
    }

    #[test]
    fn shell_words_quote() {
        assert_eq!(shell_words(&["cat", "/etc/hostname"]), "cat /etc/hostname");
        assert_eq!(shell_words(&["echo", "it's", ""]), "echo 'it'\\''s' ''");
        assert_eq!(shell_words(&["a\nb", "t\tc\\'"]), "$'a\\nb' $'t\\tc\\\\\\''");
        assert_eq!(shell_words(&["\u{1b}[0m"]), "$'\\u001b[0m'");
    }
}
