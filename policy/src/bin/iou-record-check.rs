//! iou-record-check: `iou-sandbox record` and `watch` on the kernel.
//!
//! Runs inside the patched guest, as root, with tracefs (mounted if it is
//! not). Through the library functions the two subcommands use
//! ([`tracefs::record`], [`DenyWatch`], [`sys::install_policy`]):
//!
//! 1. records a process tree (this program again, with a hidden
//!    subcommand) that submits NOP and READ on rings of its own, from a
//!    thread it clones and from a grandchild it forks: the counts must be
//!    exact and the command's exit status passed on;
//! 2. records a process whose SQPOLL ring's SQ thread submits NOP and
//!    READ: those count too;
//! 3. checks the policy of 1 as `iou-sandbox check` does: it allows
//!    exactly NOP and READ, default deny, and gives no warning;
//! 4. runs a child under that policy, installed as `iou-sandbox --policy`
//!    installs it: NOP and READ complete, OPENAT gets -EACCES;
//! 5. watches the denials of that child (`--pid`, `--count 1`) while it
//!    and, before it, a decoy outside its tree run: the one line must be
//!    the child's OPENAT (pid, user_data, a task filter, the index and
//!    "deny rest" that the oracle's [`FilterSet::denial`] gives);
//! 6. watches, without `--pid`, a child whose filters are the policy's
//!    DENY_REST filters alone: its OPENAT is denied by the deny entry,
//!    "task filter 0 (deny rest)".
//!
//! Prints KTAP as iou-oracle-check does (one test each) and exits 0 if
//! every test passed, 1 on any failure, 4 (kselftest skip) when not root,
//! without tracefs or on a kernel without IORING_REGISTER_BPF_FILTER.
//! Every child and every wait has a timeout.
//!
//!   iou-record-check [--dir DIR]
//!
//! `--dir`: where the recorded policy is written (a directory of its own
//! in it, removed at the end; default the temporary directory).

use iou_policy::compile::{self, Denial, FilterSet};
use iou_policy::kcheck::{OpenPath, Req, Request};
use iou_policy::opcodes::{IORING_OP_NOP, IORING_OP_OPENAT};
use iou_policy::parse::{check_policy, parse_policy};
use iou_policy::policy::{Action, Policy, Rule};
use iou_policy::record::Counts;
use iou_policy::sys::{self, Level};
use iou_policy::trace::Origin;
use iou_policy::tracefs::{self, DenyWatch, Instance, RecordOptions, Recorded, Watched, exit_code};
use iou_policy::uring::{IORING_SETUP_SQPOLL, Ring, Sqe};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const IORING_OP_READ: u8 = 22;
/// The submitter's exit status when every request completed as expected
/// (not 0: the check sees that `record` passes the status on).
const SUBMITTER_OK: u8 = 42;
/// What the tree submitter submits, (NOPs, READs): on its own ring, from
/// a thread on the thread's ring, from a forked grandchild on its ring.
const TREE: [(u64, u64); 3] = [(3, 2), (1, 0), (2, 1)];
/// What the SQPOLL submitter submits on its SQPOLL ring: NOPs, READs.
const SQPOLL: (u64, u64) = (2, 2);
/// user_data of the sandboxed child's requests: base + 1 NOP, + 2 READ,
/// + 3 OPENAT; a decoy's base.
const CHILD_UD: u64 = 0x5a4d_0000;
const DECOY_UD: u64 = 0xdec0_0000;
const REST_UD: u64 = 0x7e57_0000;
/// How long a child may run, and a watch wait.
const CHILD_TIMEOUT: Duration = Duration::from_secs(20);
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take.
const REQ_TIMEOUT: Duration = Duration::from_secs(3);

/// Submit `nops` NOPs and `reads` READs of /dev/zero on `ring`, each
/// checked; user_data counts up from `ud`.
fn submit(ring: &mut Ring, nops: u64, reads: u64, ud: u64) -> Result<(), String> {
    let zero = std::fs::File::open("/dev/zero").map_err(|e| format!("/dev/zero: {e}"))?;
    let mut buf = [0u8; 16];
    for i in 0..nops + reads {
        let read = i >= nops;
        let mut sqe = Sqe { opcode: IORING_OP_NOP, user_data: ud + i, ..Default::default() };
        if read {
            use std::os::fd::AsRawFd;
            sqe.opcode = IORING_OP_READ;
            sqe.fd = zero.as_raw_fd();
            sqe.addr = buf.as_mut_ptr() as u64;
            sqe.len = buf.len() as u32;
        }
        // SAFETY: READ writes into `buf`, which outlives the request: run
        // waits for its completion, and a READ of /dev/zero completes at
        // once (if it did not, the error below ends the process before
        // `buf` goes). NOP carries no address.
        let c = unsafe { ring.run(&sqe, REQ_TIMEOUT) }.map_err(|e| format!("io_uring_enter: {e}"))?;
        let want = if read { buf.len() as i32 } else { 0 };
        match c {
            Some(c) if c.res == want => {}
            Some(c) => {
                return Err(format!("{} {i}: res {} (expected {want})", if read { "READ" } else { "NOP" }, c.res));
            }
            None => {
                eprintln!("# submitter: a request did not complete in {REQ_TIMEOUT:?}");
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

/// `__submit tree|sqpoll`: the process tree `record` records.
fn submitter(what: &str) -> ExitCode {
    let run = || -> Result<(), String> {
        match what {
            "tree" => {
                let [(n0, r0), (n1, r1), (n2, r2)] = TREE;
                let mut ring = Ring::new(8).map_err(|e| format!("io_uring_setup: {e}"))?;
                submit(&mut ring, n0, r0, 0x100)?;
                std::thread::spawn(move || {
                    let mut ring = Ring::new(4).map_err(|e| format!("thread: io_uring_setup: {e}"))?;
                    submit(&mut ring, n1, r1, 0x200)
                })
                .join()
                .map_err(|_| "the thread panicked".to_string())??;
                let _ = std::io::stdout().flush();
                // SAFETY: single-threaded again (the thread was joined);
                // the grandchild uses its own ring and leaves with _exit.
                let pid = unsafe { libc::fork() };
                if pid < 0 {
                    return Err(format!("fork: {}", std::io::Error::last_os_error()));
                }
                if pid == 0 {
                    let r = Ring::new(4)
                        .map_err(|e| format!("io_uring_setup: {e}"))
                        .and_then(|mut g| submit(&mut g, n2, r2, 0x300));
                    if let Err(e) = &r {
                        println!("# grandchild: {e}");
                        let _ = std::io::stdout().flush();
                    }
                    // SAFETY: leave the grandchild without the parent's cleanup.
                    unsafe { libc::_exit(r.is_err() as i32) };
                }
                let mut status = 0;
                // SAFETY: waiting for our own child.
                if unsafe { libc::waitpid(pid, &mut status, 0) } != pid || status != 0 {
                    return Err(format!("grandchild failed (wait status {status:#x})"));
                }
                Ok(())
            }
            "sqpoll" => {
                let mut ring =
                    Ring::with_flags(8, IORING_SETUP_SQPOLL).map_err(|e| format!("io_uring_setup(SQPOLL): {e}"))?;
                submit(&mut ring, SQPOLL.0, SQPOLL.1, 0x400)
            }
            _ => Err(format!("unknown submitter {what:?}")),
        }
    };
    match run() {
        Ok(()) => ExitCode::from(SUBMITTER_OK),
        Err(e) => {
            println!("# submitter {what}: {e}");
            ExitCode::from(1)
        }
    }
}

/// `__sandboxed task|rest POLICY UD`: install the policy on this task, as
/// `iou-sandbox --policy` does (`task`) or its DENY_REST filters alone
/// (`rest`), then NOP, READ and OPENAT: exit 0 if NOP and READ complete
/// and OPENAT gets -EACCES.
fn sandboxed(mode: &str, policy: &str, ud: &str) -> ExitCode {
    let run = || -> Result<bool, String> {
        let ud = ud.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()).ok_or("bad user_data")?;
        let text = std::fs::read_to_string(policy).map_err(|e| format!("{policy}: {e}"))?;
        let p = parse_policy(&text).map_err(|e| format!("{policy}: {e:?}"))?;
        match mode {
            "task" => sys::install_policy(&p).map(|_| ()).map_err(|e| e.to_string())?,
            "rest" => {
                let f = compile::compile(&p).map_err(|e| e.to_string())?;
                sys::set_no_new_privs().map_err(|e| e.to_string())?;
                sys::install(Level::Task, &f).map_err(|e| e.to_string())?;
            }
            _ => return Err(format!("unknown mode {mode:?}")),
        }
        let mut ring = Ring::new(8).map_err(|e| format!("io_uring_setup: {e}"))?;
        let nop_read = submit(&mut ring, 1, 1, ud + 1);
        let path = c"/dev/null";
        let sqe = Sqe {
            opcode: IORING_OP_OPENAT,
            fd: libc::AT_FDCWD,
            addr: path.as_ptr() as u64,
            op_flags: (libc::O_RDONLY | libc::O_CLOEXEC) as u32,
            user_data: ud + 3,
            ..Default::default()
        };
        // SAFETY: the path is a static C string; the kernel copies it at
        // submission.
        let open = unsafe { ring.run(&sqe, REQ_TIMEOUT) }.map_err(|e| format!("io_uring_enter: {e}"))?;
        let open = open.map(|c| c.res);
        if let Some(fd) = open.filter(|&fd| fd >= 0) {
            // SAFETY: the fd the allowed OPENAT returned, ours.
            unsafe { libc::close(fd) };
        }
        println!(
            "# sandboxed {mode} pid {}: NOP and READ {}, OPENAT {}",
            std::process::id(),
            nop_read.as_ref().map_or_else(|e| e.clone(), |()| "completed".into()),
            open.map_or("did not complete".to_string(), |r| r.to_string())
        );
        Ok(nop_read.is_ok() && open == Some(-libc::EACCES))
    };
    let r = run();
    if let Err(e) = &r {
        println!("# sandboxed {mode}: {e}");
    }
    let _ = std::io::stdout().flush();
    ExitCode::from(match r {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(_) => 2,
    })
}

/// One test's result: its failures as diagnostic lines.
struct Tap {
    n: usize,
    pass: usize,
    fail: usize,
}

impl Tap {
    fn report(&mut self, name: &str, fails: Vec<String>) {
        self.n += 1;
        if fails.is_empty() {
            self.pass += 1;
            println!("ok {} {name}", self.n);
        } else {
            self.fail += 1;
            for f in &fails {
                println!("# {f}");
            }
            println!("not ok {} {name}", self.n);
        }
        let _ = std::io::stdout().flush();
    }
}

/// The expected counts of the tree submitter.
fn tree_counts() -> BTreeMap<u8, u64> {
    let nops: u64 = TREE.iter().map(|t| t.0).sum();
    let reads: u64 = TREE.iter().map(|t| t.1).sum();
    BTreeMap::from([(IORING_OP_NOP, nops), (IORING_OP_READ, reads)])
}

/// Record a submitter; the failures of its counts against `want`.
fn record_check(exe: &Path, what: &str, want: &BTreeMap<u8, u64>, sq: bool) -> (Option<Recorded>, Vec<String>) {
    let opts = RecordOptions { timeout: Some(CHILD_TIMEOUT), ..Default::default() };
    let cmd = [exe.as_os_str(), "__submit".as_ref(), what.as_ref()];
    let rec = match tracefs::record(&cmd, &opts) {
        Ok(r) => r,
        Err(e) => return (None, vec![format!("record: {e}")]),
    };
    let mut fails = Vec::new();
    match rec.status {
        Some(s) if exit_code(s) == SUBMITTER_OK => {}
        Some(s) => fails.push(format!(
            "the command's status came back as {} (wait status {s:#x}), expected {SUBMITTER_OK}",
            exit_code(s)
        )),
        None => fails.push(format!("the command was killed after {CHILD_TIMEOUT:?}")),
    }
    let c: Counts = rec.recording.counts();
    println!(
        "# record {what}: {} request(s) from {} task(s), {} by SQ threads: {:?}",
        c.requests(),
        c.tasks,
        c.by_sq_threads,
        c.opcodes
    );
    if &c.opcodes != want || !c.unknown.is_empty() {
        fails.push(format!("counts per opcode {:?} and unknown {:?}, expected {want:?}", c.opcodes, c.unknown));
    }
    let total: u64 = want.values().sum();
    if sq && c.by_sq_threads != total {
        fails.push(format!("{} request(s) by SQ threads, expected {total}", c.by_sq_threads));
    }
    if !sq && c.tasks < 3 {
        fails.push(format!("{} submitting task(s), expected the process, its thread and its grandchild", c.tasks));
    }
    if let Err(e) = &rec.sqpoll {
        fails.push(format!("the SQ threads' instance: {e}"));
    }
    if rec.recording.lost().0 > 0 {
        fails.push(format!("the kernel lost {} event(s)", rec.recording.lost().1));
    }
    if let (n @ 1.., Some(first)) = rec.recording.unparsed() {
        fails.push(format!("{n} line(s) not understood, the first: {first}"));
    }
    (Some(rec), fails)
}

/// The recorded policy as `check` sees it.
fn policy_check(text: &str) -> Vec<String> {
    let mut fails = Vec::new();
    for l in text.lines() {
        println!("#   {l}");
    }
    let checked = check_policy(text);
    for w in &checked.warnings {
        fails.push(format!("check: {}:{}: warning: {}", w.line, w.col, w.msg));
    }
    match checked.result {
        Err(errs) => {
            for e in errs {
                fails.push(format!("check: {}:{}: error: {}", e.line, e.col, e.msg));
            }
        }
        Ok(p) => {
            let want = BTreeMap::from([(IORING_OP_NOP, Rule::Allow), (IORING_OP_READ, Rule::Allow)]);
            if p.default != Action::Deny || p.rules != want || p.restrict.is_some() || p.allows_everything() {
                fails.push(format!("the policy is {p:?}, expected default deny with NOP and READ allowed"));
            }
        }
    }
    let counts = tree_counts();
    for (name, op) in [("NOP", IORING_OP_NOP), ("READ", IORING_OP_READ)] {
        let note = format!("# {name}: {} requests", counts[&op]);
        if !text.contains(&note) {
            fails.push(format!("no comment {note:?}"));
        }
    }
    fails
}

/// Wait for a child, killed at the timeout; its exit status.
fn wait_child(child: &mut std::process::Child, what: &str) -> Result<i32, String> {
    let deadline = Instant::now() + CHILD_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return s.code().ok_or(format!("{what}: killed by a signal ({s})")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: still running after {CHILD_TIMEOUT:?}, killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("{what}: wait: {e}")),
        }
    }
}

/// The request the sandboxed children's OPENAT is, for the oracle.
fn openat_ctx(ud: u64) -> iou_policy::bpf::Ctx {
    let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    Request {
        sqe_flags: 0,
        req: Req::Open { op: IORING_OP_OPENAT, flags, mode: 0, resolve: 0, path: OpenPath::Existing },
    }
    .ctx(ud)
}

/// What the line of a denial must say.
fn deny_check(got: &[(i32, iou_policy::trace::FilterDeny)], pid: i32, ud: u64, want: Option<Denial>) -> Vec<String> {
    let mut fails = Vec::new();
    let Some(want) = want else { return vec!["the oracle allows the OPENAT".into()] };
    for (line_pid, d) in got {
        println!("# denial: {d}");
        if *line_pid != d.pid {
            fails.push(format!("the line's task pid {line_pid} is not the event's pid {}", d.pid));
        }
    }
    match got {
        [] => fails.push(format!("no denial within {WATCH_TIMEOUT:?}")),
        [(_, d)] => {
            let mut expect = Vec::new();
            if d.pid != pid {
                expect.push(format!("pid {pid}"));
            }
            if d.opcode != "OPENAT" || d.opcode_num() != Some(IORING_OP_OPENAT) {
                expect.push("opcode OPENAT".into());
            }
            if d.user_data != ud {
                expect.push(format!("user_data {ud:#x}"));
            }
            if d.origin != Origin::Task {
                expect.push("a task filter".into());
            }
            if (d.index, d.deny_rest) != (want.index, want.deny_rest) {
                expect.push(format!("index {} and deny_rest {} (the oracle's)", want.index, want.deny_rest));
            }
            if !expect.is_empty() {
                fails.push(format!("expected {}", expect.join(", ")));
            }
        }
        _ => fails.push(format!("{} denials, expected the child's only", got.len())),
    }
    fails
}

/// 4 and 5: the child under the recorded policy, watched with its pid
/// after a decoy ran outside its tree.
fn sandbox_and_watch(exe: &Path, policy: &Path, p: &Policy, op_last: u32) -> (Vec<String>, Vec<String>) {
    let child_cmd = |ud: u64| -> Vec<OsString> {
        vec![exe.into(), "__sandboxed".into(), "task".into(), policy.into(), format!("{ud:#x}").into()]
    };
    let stopped = match tracefs::spawn_stopped(&child_cmd(CHILD_UD)) {
        Ok(s) => s,
        Err(e) => return (vec![format!("fork: {e}")], vec!["no child".into()]),
    };
    let pid = stopped.pid();
    let watch = match DenyWatch::start(Some(pid)) {
        Ok(w) => w,
        Err(e) => {
            drop(stopped);
            let mut sb = Vec::new();
            // The sandbox check does not need the watch.
            match Command::new(exe).args(&child_cmd(CHILD_UD)[1..]).spawn() {
                Ok(mut c) => match wait_child(&mut c, "sandboxed child") {
                    Ok(0) => {}
                    Ok(s) => sb.push(format!("the sandboxed child exited {s}")),
                    Err(e) => sb.push(e),
                },
                Err(e) => sb.push(format!("spawn: {e}")),
            }
            return (sb, vec![format!("watch: {e}")]);
        }
    };
    let mut sb = Vec::new();
    let _ = std::io::stdout().flush();
    // A denial outside the watched tree, before the child runs.
    match Command::new(exe).args(&child_cmd(DECOY_UD)[1..]).spawn() {
        Ok(mut c) => match wait_child(&mut c, "decoy") {
            Ok(0) => {}
            Ok(s) => sb.push(format!("the decoy (the same policy) exited {s}")),
            Err(e) => sb.push(e),
        },
        Err(e) => sb.push(format!("spawn: {e}")),
    }
    let mut running = match stopped.release() {
        Ok(r) => r,
        Err(e) => return (vec![e.to_string()], vec!["no child".into()]),
    };
    let mut got = Vec::new();
    let end = watch.run(Some(1), Some(Instant::now() + WATCH_TIMEOUT), &mut |w| {
        match w {
            Watched::Deny { line, deny } => got.push((line.pid, deny)),
            Watched::Lost(n) => println!("# watch: the kernel lost {n:?} event(s)"),
            Watched::Unparsed { err, .. } => println!("# watch: {err}"),
        }
        true
    });
    match running.wait(Some(Instant::now() + CHILD_TIMEOUT)) {
        Ok(Some(s)) if exit_code(s) == 0 => {}
        Ok(Some(s)) => sb.push(format!("the sandboxed child exited {}", exit_code(s))),
        Ok(None) => sb.push(format!("the sandboxed child ran past {CHILD_TIMEOUT:?}, killed")),
        Err(e) => sb.push(format!("wait: {e}")),
    }
    let mut w = match end {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!("watch: {e}")],
    };
    let mut set = FilterSet::new();
    match compile::compile_task(p, op_last) {
        Ok(f) => set.add_all(&f),
        Err(e) => w.push(format!("compile_task: {e}")),
    }
    w.extend(deny_check(&got, pid, CHILD_UD + 3, set.denial(&openat_ctx(CHILD_UD + 3))));
    (sb, w)
}

/// 6: a child with the DENY_REST filters alone, watched without a pid.
fn deny_rest_watch(exe: &Path, policy: &Path, p: &Policy) -> Vec<String> {
    let watch = match DenyWatch::start(None) {
        Ok(w) => w,
        Err(e) => return vec![format!("watch: {e}")],
    };
    let _ = std::io::stdout().flush();
    let mut child = match Command::new(exe)
        .args(["__sandboxed".as_ref(), "rest".as_ref(), policy.as_os_str(), format!("{REST_UD:#x}").as_ref()])
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return vec![format!("spawn: {e}")],
    };
    let pid = child.id() as i32;
    let mut got = Vec::new();
    let mut others = 0;
    let end = watch.run(None, Some(Instant::now() + WATCH_TIMEOUT), &mut |w| {
        match w {
            Watched::Deny { line, deny } if deny.pid == pid => {
                got.push((line.pid, deny));
                return false;
            }
            Watched::Deny { deny, .. } => {
                println!("# another process's denial: {deny}");
                others += 1;
            }
            Watched::Lost(n) => println!("# watch: the kernel lost {n:?} event(s)"),
            Watched::Unparsed { err, .. } => println!("# watch: {err}"),
        }
        true
    });
    let mut fails = Vec::new();
    match wait_child(&mut child, "the DENY_REST child") {
        Ok(0) => {}
        Ok(s) => fails.push(format!("the DENY_REST child exited {s}")),
        Err(e) => fails.push(e),
    }
    if let Err(e) = end {
        fails.push(format!("watch: {e}"));
    }
    let mut set = FilterSet::new();
    match compile::compile(p) {
        Ok(f) => set.add_all(&f),
        Err(e) => fails.push(format!("compile: {e}")),
    }
    let want = set.denial(&openat_ctx(REST_UD + 3));
    if want != Some(Denial { index: 0, deny_rest: true }) {
        fails.push(format!("the oracle gives {want:?}, not the deny entry"));
    }
    fails.extend(deny_check(&got, pid, REST_UD + 3, want));
    if others > 0 {
        println!("# {others} denial(s) of other processes seen meanwhile");
    }
    fails
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["__submit", what] => return submitter(what),
        ["__sandboxed", mode, policy, ud] => return sandboxed(mode, policy, ud),
        _ => {}
    }
    let mut dir = std::env::temp_dir();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => match it.next() {
                Some(d) => dir = d.into(),
                None => {
                    eprintln!("iou-record-check: --dir needs a value");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("iou-record-check: unknown argument {a:?}\nusage: iou-record-check [--dir DIR]");
                return ExitCode::from(2);
            }
        }
    }
    println!("TAP version 13");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("1..0 # SKIP tracefs needs root");
        return ExitCode::from(4);
    }
    let support = match sys::probe() {
        Ok(s) => s,
        Err(e) => {
            println!("1..0 # SKIP {e}");
            return ExitCode::from(4);
        }
    };
    if let Err(e) = Instance::create("check") {
        println!("1..0 # SKIP no trace instance: {e}");
        return ExitCode::from(4);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            println!("1..1\nnot ok 1 find this program # {e}");
            return ExitCode::from(1);
        }
    };
    let work = dir.join(format!("iou-record-check-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&work) {
        println!("1..1\nnot ok 1 set up {} # {e}", work.display());
        return ExitCode::from(1);
    }
    let start = Instant::now();
    println!(
        "# record and watch on the io_uring tracepoints; op_last {} ({})",
        support.op_last,
        if support.probed { "probed" } else { "assumed" }
    );
    println!("1..6");
    let mut tap = Tap { n: 0, pass: 0, fail: 0 };

    let (rec, fails) = record_check(&exe, "tree", &tree_counts(), false);
    tap.report("record: NOP and READ of a process, a thread it clones and a grandchild it forks, counted", fails);
    let sq_want = BTreeMap::from([(IORING_OP_NOP, SQPOLL.0), (IORING_OP_READ, SQPOLL.1)]);
    let (_, fails) = record_check(&exe, "sqpoll", &sq_want, true);
    tap.report("record: the requests an SQPOLL ring's SQ thread submits", fails);

    // The recorded policy, as `record -o` writes it; the expected one if
    // the recording failed, so that the kernel's side is still checked.
    let cmd = [exe.display().to_string(), "__submit".into(), "tree".into()];
    let text = rec.map(|r| r.recording.policy(&iou_policy::record::shell_words(&cmd)));
    let policy_path = work.join("recorded.toml");
    let fails = match &text {
        Some(t) => match std::fs::write(&policy_path, t) {
            Ok(()) => policy_check(t),
            Err(e) => vec![format!("{}: {e}", policy_path.display())],
        },
        None => vec!["nothing recorded (test 1 failed)".into()],
    };
    tap.report("record: the policy allows exactly NOP and READ, and check accepts it without warnings", fails);
    let fallback = "default = \"deny\"\nop.nop = \"allow\"\nop.read = \"allow\"\n";
    let p = match std::fs::read_to_string(&policy_path).ok().and_then(|t| parse_policy(&t).ok()) {
        Some(p) => p,
        None => {
            println!("# using the expected policy instead of the recorded one");
            let _ = std::fs::write(&policy_path, fallback);
            parse_policy(fallback).expect("the fallback parses")
        }
    };
    let (sb, w) = sandbox_and_watch(&exe, &policy_path, &p, support.op_last);
    tap.report("sandbox: under the recorded policy NOP and READ complete, OPENAT gets -EACCES", sb);
    tap.report("watch --pid --count 1: the child's OPENAT denial, by its explicit task deny filter", w);
    let fails = deny_rest_watch(&exe, &policy_path, &p);
    tap.report("watch: a denial by the DENY_REST entry, task filter 0 (deny rest)", fails);

    let _ = std::fs::remove_dir_all(&work);
    println!("# {:.1} s in all", start.elapsed().as_secs_f64());
    println!("# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:0 error:0", tap.pass, tap.fail);
    if tap.fail == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
