//! The io_uring tracepoints `iou-sandbox record` and `watch` read, as
//! tracefs prints them in `trace` and `trace_pipe`: a line's prefix (task,
//! pid, CPU, timestamp, event name) and the bodies of
//! `io_uring_submit_req`, `io_uring_create` and the series'
//! `io_uring_bpf_filter_deny` (the rst's "Seeing the filters").
//!
//! Pure functions: what reads tracefs is [`crate::tracefs`].

use crate::opcodes;
use std::fmt;

/// The tracepoints' system: `events/io_uring/`.
pub const SYSTEM: &str = "io_uring";
/// A request that passed init and prep and is being submitted.
pub const SUBMIT_REQ: &str = "io_uring_submit_req";
/// A ring was set up.
pub const CREATE: &str = "io_uring_create";
/// A cBPF filter denied a request.
pub const FILTER_DENY: &str = "io_uring_bpf_filter_deny";

/// One event line, split at its prefix:
/// `TASK-PID [CPU] FLAGS TIMESTAMP: EVENT: BODY`, with `(TGID)` after the
/// pid if `options/record-tgid` is set and without FLAGS if
/// `options/irq-info` is clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The task's comm as the trace remembered it (`<...>` if it did not).
    pub task: &'a str,
    /// The pid (thread id) of the task the event ran in.
    pub pid: i32,
    pub cpu: u32,
    /// Seconds with microseconds (`123.456789`), or a counter for the
    /// counter clocks.
    pub timestamp: &'a str,
    pub event: &'a str,
    /// What the event printed, after `EVENT: `.
    pub body: &'a str,
}

/// A timestamp: `%5lu.%06lu`, or `%12llu` for the counter clocks.
fn is_timestamp(s: &str) -> bool {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `TASK-PID [(TGID)] [CPU] [FLAGS]`: the task, the pid and the CPU.
fn parse_head(head: &str) -> Option<(&str, i32, u32)> {
    let lb = head.rfind('[')?;
    let rb = lb + head[lb..].find(']')?;
    let cpu = head[lb + 1..rb].parse().ok()?;
    // What follows the CPU is the irq-info flags, one word, if anything.
    if head[rb + 1..].trim().contains(' ') {
        return None;
    }
    let mut who = head[..lb].trim_end();
    if who.ends_with(')') {
        who = who[..who.rfind('(')?].trim_end();
    }
    let (task, pid) = who.trim_start().rsplit_once('-')?;
    Some((task, pid.parse().ok()?, cpu))
}

/// Split an event line at its prefix. `None` for what is not an event
/// line: the `# ...` header of `trace`, a blank line, the `CPU:N [LOST M
/// EVENTS]` lines ([`parse_lost`]).
pub fn parse_line(line: &str) -> Option<Line<'_>> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.trim_start().starts_with('#') {
        return None;
    }
    // The first ": " after a timestamp that follows the prefix: a task's
    // comm may hold ": " or digits itself.
    let mut from = 0;
    while let Some(i) = line[from..].find(": ").map(|i| i + from) {
        from = i + 2;
        let before = &line[..i];
        let ts_at = before.rfind(' ').map_or(0, |p| p + 1);
        if !is_timestamp(&before[ts_at..]) {
            continue;
        }
        let Some((task, pid, cpu)) = parse_head(&before[..ts_at]) else { continue };
        let rest = &line[i + 2..];
        let (event, body) = match rest.split_once(": ") {
            Some((e, b)) => (e, b),
            None => (rest.strip_suffix(':').unwrap_or(rest), ""),
        };
        if event.is_empty() || event.contains(' ') {
            continue;
        }
        return Some(Line { task, pid, cpu, timestamp: &before[ts_at..], event, body });
    }
    None
}

/// Events the kernel lost on one CPU, as `trace_pipe` reports them
/// (`CPU:1 [LOST 42 EVENTS]`; `CPU:1 [LOST EVENTS]` when it cannot count
/// them: `Some((1, None))`).
pub fn parse_lost(line: &str) -> Option<(u32, Option<u64>)> {
    let rest = line.trim().strip_prefix("CPU:")?;
    let (cpu, rest) = rest.split_once(' ')?;
    let cpu = cpu.parse().ok()?;
    let n = rest.strip_prefix("[LOST ")?.strip_suffix("EVENTS]")?.trim();
    if n.is_empty() {
        return Some((cpu, None));
    }
    Some((cpu, Some(n.parse().ok()?)))
}

/// A body that is not what its event prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub event: &'static str,
    pub body: String,
    /// What was expected where the body differs.
    pub expected: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected {} line (expected {}): {:?}", self.event, self.expected, self.body)
    }
}

impl std::error::Error for ParseError {}

/// A cursor over a body: literals expected in order, fields between them.
struct Fields<'a> {
    event: &'static str,
    body: &'a str,
    rest: &'a str,
}

impl<'a> Fields<'a> {
    fn new(event: &'static str, body: &'a str) -> Fields<'a> {
        Fields { event, body, rest: body.trim_end() }
    }

    fn err(&self, expected: impl Into<String>) -> ParseError {
        ParseError { event: self.event, body: self.body.to_string(), expected: expected.into() }
    }

    /// The literal `s`.
    fn lit(&mut self, s: &str) -> Result<(), ParseError> {
        self.rest = self.rest.strip_prefix(s).ok_or_else(|| self.err(format!("{s:?}")))?;
        Ok(())
    }

    /// The field up to `sep` (consumed).
    fn until(&mut self, sep: &str) -> Result<&'a str, ParseError> {
        let (field, rest) = self.rest.split_once(sep).ok_or_else(|| self.err(format!("{sep:?}")))?;
        self.rest = rest;
        Ok(field)
    }

    fn num<T: std::str::FromStr>(&self, s: &str, what: &str) -> Result<T, ParseError> {
        s.parse().map_err(|_| self.err(format!("a number for {what}")))
    }

    /// The field up to `sep`, a number.
    fn num_until<T: std::str::FromStr>(&mut self, sep: &str, what: &str) -> Result<T, ParseError> {
        let s = self.until(sep)?;
        self.num(s, what)
    }

    /// The field up to `sep`, `0x%llx`.
    fn hex_until(&mut self, sep: &str, what: &str) -> Result<u64, ParseError> {
        let s = self.until(sep)?;
        self.hex(s, what)
    }

    /// `0x%llx`.
    fn hex(&self, s: &str, what: &str) -> Result<u64, ParseError> {
        s.strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err(format!("0x... for {what}")))
    }
}

/// `io_uring_submit_req`: `ring %p, req %p, user_data 0x%llx, opcode %s,
/// flags 0x%llx, sq_thread %d`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitReq {
    /// The ring, as `%p` prints it (hashed, but the same for a ring in
    /// every event of one boot).
    pub ring: String,
    pub user_data: u64,
    /// The kernel's opcode name ([`opcodes::kernel_opcode_name`]).
    pub opcode: String,
    /// The request's `REQ_F_*` flags.
    pub flags: u64,
    /// The ring is an SQPOLL ring: its SQ thread submitted the request.
    pub sq_thread: bool,
}

impl SubmitReq {
    pub fn parse(body: &str) -> Result<SubmitReq, ParseError> {
        let mut f = Fields::new(SUBMIT_REQ, body);
        f.lit("ring ")?;
        let ring = f.until(", ")?.to_string();
        f.lit("req ")?;
        f.until(", ")?;
        f.lit("user_data ")?;
        let user_data = f.hex_until(", ", "user_data")?;
        f.lit("opcode ")?;
        let opcode = f.until(", ")?.to_string();
        f.lit("flags ")?;
        let flags = f.hex_until(", ", "flags")?;
        f.lit("sq_thread ")?;
        let sq_thread = f.num::<i32>(f.rest, "sq_thread")? != 0;
        Ok(SubmitReq { ring, user_data, opcode, flags, sq_thread })
    }
}

/// `io_uring_create`: `ring %p, fd %d sq size %d, cq size %d, flags 0x%x`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingCreate {
    pub ring: String,
    pub fd: i32,
    pub sq_entries: u32,
    pub cq_entries: u32,
    /// The `IORING_SETUP_*` flags.
    pub flags: u32,
}

impl RingCreate {
    pub fn parse(body: &str) -> Result<RingCreate, ParseError> {
        let mut f = Fields::new(CREATE, body);
        f.lit("ring ")?;
        let ring = f.until(", ")?.to_string();
        f.lit("fd ")?;
        let fd = f.num_until(" ", "fd")?;
        f.lit("sq size ")?;
        let sq_entries = f.num_until(", ", "sq size")?;
        f.lit("cq size ")?;
        let cq_entries = f.num_until(", ", "cq size")?;
        f.lit("flags ")?;
        let flags = f.hex(f.rest, "flags")?;
        let flags = u32::try_from(flags).map_err(|_| f.err("32-bit flags"))?;
        Ok(RingCreate { ring, fd, sq_entries, cq_entries, flags })
    }
}

/// Where the filter that denied a request was registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// On the ring.
    Ring,
    /// On a task, inherited by the ring.
    Task,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Ring => "ring",
            Origin::Task => "task",
        }
    }
}

/// `io_uring_bpf_filter_deny`: `ring %p, pid %d, user_data 0x%llx, opcode
/// %s, %s filter %u%s`, the first `%s` `ring` or `task`, the last `""` or
/// `" (deny rest)"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterDeny {
    pub ring: String,
    /// The task that submitted the request (an SQPOLL ring's SQ thread).
    pub pid: i32,
    pub user_data: u64,
    /// The kernel's opcode name.
    pub opcode: String,
    pub origin: Origin,
    /// The filter's position in the opcode's chain, 0 for the newest.
    pub index: u32,
    /// It was the deny entry of `IO_URING_BPF_FILTER_DENY_REST`.
    pub deny_rest: bool,
}

impl FilterDeny {
    pub fn parse(body: &str) -> Result<FilterDeny, ParseError> {
        let mut f = Fields::new(FILTER_DENY, body);
        f.lit("ring ")?;
        let ring = f.until(", ")?.to_string();
        f.lit("pid ")?;
        let pid = f.num_until(", ", "pid")?;
        f.lit("user_data ")?;
        let user_data = f.hex_until(", ", "user_data")?;
        f.lit("opcode ")?;
        let opcode = f.until(", ")?.to_string();
        let origin = match f.until(" filter ")? {
            "ring" => Origin::Ring,
            "task" => Origin::Task,
            _ => return Err(f.err("\"ring filter \" or \"task filter \"")),
        };
        let (index, deny_rest) = match f.rest.strip_suffix(" (deny rest)") {
            Some(i) => (i, true),
            None => (f.rest, false),
        };
        let index = f.num(index, "the filter's index")?;
        Ok(FilterDeny { ring, pid, user_data, opcode, origin, index, deny_rest })
    }

    /// The opcode's number, if the tool knows its kernel name.
    pub fn opcode_num(&self) -> Option<u8> {
        opcodes::opcode_by_kernel_name(&self.opcode)
    }
}

/// What `iou-sandbox watch` prints for a denial:
/// `pid 412: openat (18), user_data 0x2a: task filter 0 (deny rest), ring 000000002c5b6ea1`
/// (the opcode by its policy name, or the kernel's if the tool has none).
impl fmt::Display for FilterDeny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.opcode_num() {
            Some(n) => format!("{} ({n})", opcodes::opcode_name(n).unwrap_or("?")),
            None => self.opcode.clone(),
        };
        write!(
            f,
            "pid {}: {op}, user_data {:#x}: {} filter {}{}, ring {}",
            self.pid,
            self.user_data,
            self.origin.as_str(),
            self.index,
            if self.deny_rest { " (deny rest)" } else { "" },
            self.ring
        )
    }
}

/// An event of the io_uring system this crate reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    SubmitReq(SubmitReq),
    Create(RingCreate),
    Deny(FilterDeny),
    /// Another event (not parsed).
    Other,
}

impl Event {
    /// The event of a line, by its name.
    pub fn parse(line: &Line<'_>) -> Result<Event, ParseError> {
        Ok(match line.event {
            SUBMIT_REQ => Event::SubmitReq(SubmitReq::parse(line.body)?),
            CREATE => Event::Create(RingCreate::parse(line.body)?),
            FILTER_DENY => Event::Deny(FilterDeny::parse(line.body)?),
            _ => Event::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBMIT: &str = "           <...>-412     [001] .....   123.456789: io_uring_submit_req: ring 000000002c5b6ea1, \
                          req 00000000e1f3a9b2, user_data 0x2a, opcode READ, flags 0x0, sq_thread 0";

    #[test]
    fn line_prefix() {
        let l = parse_line(SUBMIT).unwrap();
        assert_eq!((l.task, l.pid, l.cpu, l.timestamp, l.event), ("<...>", 412, 1, "123.456789", SUBMIT_REQ));
        assert!(l.body.starts_with("ring 000000002c5b6ea1, req"));
        // A comm with dashes, spaces and ": ", record-tgid, no irq-info,
        // a counter clock.
        let l = parse_line("  my-prog: 1 2-7   (      7) [000]   1234567: io_uring_create: ring 01, fd 3 sq size 8, cq size 16, flags 0x0\n")
            .unwrap();
        assert_eq!((l.task, l.pid, l.cpu, l.timestamp, l.event), ("my-prog: 1 2", 7, 0, "1234567", CREATE));
        assert_eq!(l.body, "ring 01, fd 3 sq size 8, cq size 16, flags 0x0");
        let l = parse_line("iou-sqp-411-413 [003] d..1.  99.000001: io_uring_submit_req: x").unwrap();
        assert_eq!((l.task, l.pid, l.cpu), ("iou-sqp-411", 413, 3));
        for not in [
            "# tracer: nop",
            "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION",
            "",
            "CPU:1 [LOST 42 EVENTS]",
            "garbage: more: garbage",
            "a-1 [x] 1.0: ev: body",
        ] {
            assert_eq!(parse_line(not), None, "{not:?}");
        }
    }

    #[test]
    fn lost_events() {
        assert_eq!(parse_lost("CPU:1 [LOST 42 EVENTS]\n"), Some((1, Some(42))));
        assert_eq!(parse_lost("CPU:0 [LOST EVENTS]"), Some((0, None)));
        assert_eq!(parse_lost("CPU:0 [LOST many EVENTS]"), None);
        assert_eq!(parse_lost(SUBMIT), None);
    }

    #[test]
    fn submit_req() {
        let e = Event::parse(&parse_line(SUBMIT).unwrap()).unwrap();
        let want = SubmitReq {
            ring: "000000002c5b6ea1".into(),
            user_data: 0x2a,
            opcode: "READ".into(),
            flags: 0,
            sq_thread: false,
        };
        assert_eq!(e, Event::SubmitReq(want));
        let s = SubmitReq::parse(
            "ring 00000000deadbeef, req 0000000012345678, user_data 0xffffffffffffffff, opcode EPOLL, flags 0x200010, sq_thread 1",
        )
        .unwrap();
        assert_eq!((s.user_data, s.opcode.as_str(), s.flags, s.sq_thread), (u64::MAX, "EPOLL", 0x200010, true));
        assert_eq!(opcodes::opcode_by_kernel_name(&s.opcode), Some(29));
        for bad in [
            "",
            "ring 1, req 2, user_data 42, opcode NOP, flags 0x0, sq_thread 0",
            "ring 1, req 2, user_data 0x1, opcode NOP, flags 0x0",
            "ring 1, req 2, user_data 0x1, opcode NOP, flags 0x0, sq_thread x",
        ] {
            let e = SubmitReq::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("unexpected io_uring_submit_req line (expected "), "{e}");
        }
    }

    #[test]
    fn ring_create() {
        let l = parse_line(
            "   a.out-500     [000] .....    10.000001: io_uring_create: ring 00000000abad1dea, fd 3 sq size 8, cq size 16, flags 0x2",
        )
        .unwrap();
        let want = RingCreate { ring: "00000000abad1dea".into(), fd: 3, sq_entries: 8, cq_entries: 16, flags: 2 };
        assert_eq!(Event::parse(&l), Ok(Event::Create(want)));
        assert!(RingCreate::parse("ring 1, fd 3, sq size 8, cq size 16, flags 0x2").is_err());
    }

    #[test]
    fn filter_deny() {
        let line = "             cat-412     [001] .....   123.456789: io_uring_bpf_filter_deny: ring 000000002c5b6ea1, \
                    pid 412, user_data 0x2a, opcode OPENAT, task filter 0 (deny rest)";
        let l = parse_line(line).unwrap();
        assert_eq!((l.task, l.pid), ("cat", 412));
        let want = FilterDeny {
            ring: "000000002c5b6ea1".into(),
            pid: 412,
            user_data: 0x2a,
            opcode: "OPENAT".into(),
            origin: Origin::Task,
            index: 0,
            deny_rest: true,
        };
        let Ok(Event::Deny(d)) = Event::parse(&l) else { panic!("not a deny line") };
        assert_eq!(d, want);
        assert_eq!(d.opcode_num(), Some(18));
        assert_eq!(
            d.to_string(),
            "pid 412: openat (18), user_data 0x2a: task filter 0 (deny rest), ring 000000002c5b6ea1"
        );
        // The kselftest's lines.
        let d = FilterDeny::parse("ring 00000000c0ffee00, pid 7, user_data 0xb, opcode NOP, ring filter 0").unwrap();
        assert_eq!((d.origin, d.index, d.deny_rest), (Origin::Ring, 0, false));
        let d = FilterDeny::parse("ring 00000000c0ffee00, pid 7, user_data 0xa, opcode NOP, task filter 1\n").unwrap();
        assert_eq!((d.origin, d.index, d.deny_rest, d.user_data), (Origin::Task, 1, false, 0xa));
        let d = FilterDeny::parse("ring 1, pid 7, user_data 0x0, opcode INVALID, ring filter 12").unwrap();
        assert_eq!(d.opcode_num(), None);
        assert_eq!(d.to_string(), "pid 7: INVALID, user_data 0x0: ring filter 12, ring 1");
        for bad in [
            "ring 1, pid 7, user_data 0xa, opcode NOP, both filter 1",
            "ring 1, pid x, user_data 0xa, opcode NOP, task filter 1",
            "ring 1, pid 7, user_data 0xa, opcode NOP, task filter",
            "ring 1, pid 7, user_data 0xa, opcode NOP, task filter 1 (deny)",
        ] {
            assert!(FilterDeny::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_events_are_not_parsed() {
        let l =
            parse_line("a-1 [000] ..... 1.000000: io_uring_complete: ring 1, req 2, user_data 0x0, result 0").unwrap();
        assert_eq!(Event::parse(&l), Ok(Event::Other));
    }
}
