//! iou-sandbox: run a command under an io_uring cBPF filter policy.
//!
//!   iou-sandbox [--allow-empty] --policy policy.toml [--] cmd args...
//!   iou-sandbox --policy policy.toml --explain
//!   iou-sandbox check policy.toml
//!   iou-sandbox record -o policy.toml [--] cmd args...
//!   iou-sandbox watch [--pid PID] [--count N] [--json]

use iou_policy::abi::{
    IO_URING_BPF_FILTER_DENY_REST, IORING_RESTRICTION_REGISTER_OP, IORING_RESTRICTION_SQE_FLAGS_ALLOWED,
    IORING_RESTRICTION_SQE_OP,
};
use iou_policy::compile::{self, CompiledFilter, FilterSet};
use iou_policy::names;
use iou_policy::opcodes;
use iou_policy::parse::{PolicyError, check_policy};
use iou_policy::policy::{Action, Policy, Restrict};
use iou_policy::sys;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

const USAGE: &str = "\
usage:
  iou-sandbox [--allow-empty] --policy FILE [--] COMMAND [ARGS...]
        set no_new_privs, register the policy's [restrict] table as classic
        task restrictions, install its io_uring filters on this task (fd -1),
        then exec COMMAND; every io_uring ring it creates is filtered.
        A policy that allows everything is refused unless --allow-empty.
  iou-sandbox --policy FILE --explain [--json]
        print the generated cBPF filters with a comment per instruction
        (and the task restrictions); --json: the same as one JSON object
  iou-sandbox test FILE --op NAME [--addr ADDR[:PORT]] [--family F] [--port P]
        [--type T] [--protocol P] [--flags F,..] [--mode M,..] [--resolve R,..]
        [--sqe-flags F,..]
        evaluate one request, as the kernel's filter context would hold it, on
        the oracle; print the verdict and the rule that decided it
  iou-sandbox check FILE
        lint a policy file: every error and warning (rules that do nothing,
        overlapping entries, allow_if groups that another contains) as
        FILE:LINE:COLUMN, with the nearest valid name for a typo
  iou-sandbox record -o FILE [--buffer-kb N] [--] COMMAND [ARGS...]
        run COMMAND with the io_uring_submit_req tracepoint enabled for its
        process tree, then write to FILE (- for standard output) the policy
        that allows exactly the opcodes it submitted, default deny, with
        their counts; exit with COMMAND's status. Needs root (tracefs).
  iou-sandbox watch [--pid PID] [--count N] [--json]
        print each request an io_uring filter denies, as it happens (pid,
        opcode, user_data, and the filter: ring or task, its index, whether
        it was the DENY_REST entry), until interrupted or N denials; --pid:
        only PID and what it forks from then on. Needs root (tracefs).
  iou-sandbox --version | --help

exit status:
  0    check/explain succeeded, test: the request is allowed (COMMAND's own
       status once it runs)
  1    the policy has errors, is refused, or registering it failed:
       nothing was run
  2    usage error
  3    this kernel has no io_uring BPF filtering: nothing was run
  4    test: the request is denied
  5    record/watch: tracing could not be set up (not root, no tracefs, no
       such tracepoint): nothing was run
  127  COMMAND could not be executed
  record exits with COMMAND's status (128+N if signal N killed it)
";

/// Exit statuses (also in USAGE and the README).
const EXIT_POLICY: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NO_SUPPORT: u8 = 3;
const EXIT_DENIED: u8 = 4;
const EXIT_TRACE: u8 = 5;
const EXIT_EXEC: u8 = 127;

/// `test`: the request on the oracle (the filters iou-sandbox would
/// install, run by the reference evaluator, and the classic restrictions),
/// checked against the policy's meaning, with the rule that decided.
fn test(path: &OsString, loaded: &Loaded, req: &request::Request) -> ExitCode {
    let (ctx, notes) = match req.ctx() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("iou-sandbox: {e} (see --help)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let policy = &loaded.policy;
    let filters = match compile::compile_task(policy, opcodes::IORING_OP_LAST) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("iou-sandbox: {}: {e}", path.to_string_lossy());
            return ExitCode::from(EXIT_POLICY);
        }
    };
    let mut set = FilterSet::new();
    set.add_all(&filters);
    let by_filters = set.allows(&ctx);
    let by_restrict = policy.restrict.as_ref().is_none_or(|r| r.allows_sqe(ctx.opcode(), ctx.sqe_flags()));
    let v = policy.decide(&ctx);
    println!("request: {}", request::describe(&ctx));
    for n in notes {
        println!("  ({n})");
    }
    println!("verdict: {}", if v.allowed { "allow" } else { "deny (-EACCES)" });
    println!("decided by: {}: {}", v.rule, v.why);
    if v.allowed != (by_filters && by_restrict) {
        eprintln!("iou-sandbox: internal error: the compiled filters disagree with the policy's meaning");
        return ExitCode::from(EXIT_POLICY);
    }
    if v.allowed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DENIED) }
}

/// A JSON string.
fn js(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn filter_json(f: &CompiledFilter) -> String {
    let insns: Vec<String> = f
        .program
        .insns
        .iter()
        .enumerate()
        .map(|(pc, i)| {
            format!(
                "{{\"code\":{},\"jt\":{},\"jf\":{},\"k\":{},\"text\":{},\"comment\":{}}}",
                i.code,
                i.jt,
                i.jf,
                i.k,
                js(&iou_policy::bpf::disasm(pc, i)),
                js(f.program.comments.get(pc).map_or("", String::as_str))
            )
        })
        .collect();
    format!(
        "{{\"opcode\":{},\"name\":{},\"flags\":{},\"deny_rest\":{},\"pdu_size\":{},\"insns\":[{}]}}",
        f.opcode,
        js(opcodes::opcode_name(f.opcode).unwrap_or("")),
        f.flags,
        f.flags & IO_URING_BPF_FILTER_DENY_REST != 0,
        f.pdu_size,
        insns.join(",")
    )
}

/// `--explain --json`: what would be installed, in registration order.
fn explain_json(
    path: &str,
    policy: &Policy,
    ruled: &[&CompiledFilter],
    denied: &[&CompiledFilter],
    op_last: u32,
    whose: &str,
) -> String {
    let restrictions = match &policy.restrict {
        None => "null".to_string(),
        Some(r) => {
            let e: Vec<String> =
                r.entries().iter().map(|e| format!("{{\"opcode\":{},\"arg\":{}}}", e.opcode, e.arg)).collect();
            format!("[{}]", e.join(","))
        }
    };
    let filters: Vec<String> = ruled.iter().map(|f| filter_json(f)).collect();
    let deny: Vec<String> = denied.iter().map(|f| f.opcode.to_string()).collect();
    let guarantee = if policy.default == Action::Deny {
        js("a request whose opcode has no allowing rule completes with -EACCES, even when the task already has \
            filters: every opcode without a rule below op_last gets an explicit deny filter")
    } else {
        "null".into()
    };
    format!(
        "{{\"policy\":{},\"default\":{},\"op_last\":{op_last},\"op_last_source\":{},\"restrictions\":{restrictions},\
         \"filters\":[{}],\"deny_filters\":[{}],\"guarantee\":{guarantee}}}",
        js(path),
        js(if policy.default == Action::Allow { "allow" } else { "deny" }),
        js(whose),
        filters.join(","),
        deny.join(",")
    )
}

mod observe;
mod request;

enum Mode {
    Exec(Vec<OsString>),
    Explain { json: bool },
    Check,
    Test(Box<request::Request>),
}

struct Args {
    mode: Mode,
    policy: OsString,
    allow_empty: bool,
}

/// What the command line asks for.
enum Parsed {
    Run(Args),
    Help,
    Version,
}

fn parse_args(args: Vec<OsString>) -> Result<Parsed, String> {
    let mut it = args.into_iter();
    let mut policy: Option<OsString> = None;
    let mut explain = false;
    let mut json = false;
    let mut allow_empty = false;
    let mut rest: Vec<OsString> = Vec::new();
    let first = it.next();
    if let Some(f) = &first
        && f == "check"
    {
        let file = it.next().ok_or("check: missing policy file")?;
        if let Some(extra) = it.next() {
            return Err(format!("check: unexpected argument {:?}", extra));
        }
        return Ok(Parsed::Run(Args { mode: Mode::Check, policy: file, allow_empty: false }));
    }
    if let Some(f) = &first
        && f == "test"
    {
        let file = it.next().ok_or("test: missing policy file")?;
        let mut req = request::Request::default();
        while let Some(a) = it.next() {
            let name = a.to_string_lossy().into_owned();
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (name, None),
            };
            let value = inline.or_else(|| it.next().map(|v| v.to_string_lossy().into_owned()));
            if !req.option(&name, value)? {
                return Err(format!("test: unknown option {name}"));
            }
        }
        return Ok(Parsed::Run(Args { mode: Mode::Test(Box::new(req)), policy: file, allow_empty: false }));
    }
    let mut set_policy = |p: OsString| {
        if policy.replace(p).is_some() {
            return Err("--policy given twice: one policy file per sandbox".to_string());
        }
        Ok(())
    };
    let mut next = first;
    while let Some(a) = next.take() {
        match a.to_str() {
            Some("--policy") | Some("-p") => set_policy(it.next().ok_or("--policy needs a file")?)?,
            Some(s) if s.starts_with("--policy=") => set_policy(OsString::from(&s[9..]))?,
            Some("--explain") => explain = true,
            Some("--json") => json = true,
            Some("--allow-empty") => allow_empty = true,
            Some("--help") | Some("-h") => return Ok(Parsed::Help),
            Some("--version") | Some("-V") => return Ok(Parsed::Version),
            Some("--") => {
                rest.extend(it.by_ref());
                break;
            }
            Some(s) if s.starts_with('-') && rest.is_empty() => return Err(format!("unknown option {s}")),
            _ => {
                rest.push(a);
                rest.extend(it.by_ref());
                break;
            }
        }
        next = it.next();
    }
    let policy = policy.ok_or("missing --policy FILE")?;
    if explain {
        if !rest.is_empty() {
            return Err("--explain takes no command".into());
        }
        return Ok(Parsed::Run(Args { mode: Mode::Explain { json }, policy, allow_empty }));
    }
    if json {
        return Err("--json goes with --explain".into());
    }
    if rest.is_empty() {
        return Err("missing command to run".into());
    }
    Ok(Parsed::Run(Args { mode: Mode::Exec(rest), policy, allow_empty }))
}

/// What a policy file installs.
struct Loaded {
    policy: Policy,
    filters: Vec<CompiledFilter>,
    /// Warnings printed (`check` only).
    warnings: usize,
}

/// The opcode count to explain with: the running kernel's if it can be
/// probed, else that of the newest kernel the tool knows.
fn explain_op_last() -> (u32, &'static str) {
    match sys::probe() {
        Ok(s) if s.probed => (s.op_last, "the running kernel's, probed"),
        _ => (opcodes::IORING_OP_LAST, "Linux 7.0's; the running kernel's count is probed at install"),
    }
}

/// `text` as `# ` comment lines of at most 76 columns, the others indented.
fn comment(text: &str) -> String {
    iou_policy::record::comment_lines(text, "#  ")
}

/// `--explain` text for the deny filters `default = "deny"` installs
/// besides the rules' filters, and what they guarantee.
fn explain_default_deny(denied: &[&CompiledFilter], op_last: u32, whose: &str) -> String {
    let names: Vec<String> = denied
        .iter()
        .map(|f| opcodes::opcode_name(f.opcode).map(str::to_string).unwrap_or_else(|| f.opcode.to_string()))
        .collect();
    comment(&format!(
        "default = \"deny\": then a deny filter (ret #0, 1 instruction, pdu_size 0) for each of the {} opcodes \
         without a rule below IORING_OP_LAST {op_last} ({whose}), after the filter with DENY_REST: {}.",
        denied.len(),
        names.join(" ")
    )) + &comment(
        "Guarantee: a request whose opcode has no allowing rule completes with -EACCES, even when the task \
         already has filters (an outer sandbox, a parent's policy): every filter on an opcode must allow, and an \
         older filter cannot lift an explicit deny filter (DENY_REST alone would cover only opcodes that have no \
         filter yet).",
    )
}

/// `--explain` text for `[restrict]`.
fn explain_restrict(r: &Restrict) -> String {
    let entries = r.entries();
    let mut out = format!("task restrictions (IORING_REGISTER_RESTRICTIONS, fd -1), {} entries:\n", entries.len());
    let flags = |m: u8| {
        let n = names::mask_name(names::SQE_FLAGS, m as u64).unwrap_or_else(|| "none".into());
        format!("{n} ({m:#x})")
    };
    for e in entries {
        let line = match e.opcode {
            IORING_RESTRICTION_SQE_OP => {
                format!(
                    "SQE_OP IORING_OP_{} ({})",
                    opcodes::opcode_name(e.arg).unwrap_or("?").to_ascii_uppercase(),
                    e.arg
                )
            }
            IORING_RESTRICTION_REGISTER_OP => format!(
                "REGISTER_OP IORING_{} ({})",
                opcodes::register_op_name(e.arg).unwrap_or("?").to_ascii_uppercase(),
                e.arg
            ),
            IORING_RESTRICTION_SQE_FLAGS_ALLOWED => format!("SQE_FLAGS_ALLOWED {}", flags(e.arg)),
            _ => format!("SQE_FLAGS_REQUIRED {}", flags(e.arg)),
        };
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// Read, parse, compile and validate. Errors are printed; nothing is
/// installed unless this succeeds for the whole policy.
fn load(path: &OsString, show_warnings: bool) -> Result<Loaded, ()> {
    let shown = path.to_string_lossy();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("iou-sandbox: {shown}: {e}");
            return Err(());
        }
    };
    let checked = check_policy(&text);
    let warnings = if show_warnings { checked.warnings } else { Vec::new() };
    let errors = checked.result.as_ref().err().cloned().unwrap_or_default();
    let mut all: Vec<(&PolicyError, &str)> =
        errors.iter().map(|e| (e, "error")).chain(warnings.iter().map(|w| (w, "warning"))).collect();
    all.sort_by_key(|(e, _)| (e.line, e.col));
    for (e, kind) in all {
        eprintln!("{shown}:{}:{}: {kind}: {}", e.line, e.col, e.msg);
        if let Some(n) = &e.note {
            eprintln!("{shown}:{}:{}: note: {}", n.line, n.col, n.msg);
        }
    }
    let policy = match checked.result {
        Ok(p) => p,
        Err(errs) => {
            let w = if warnings.is_empty() { String::new() } else { format!(", {} warning(s)", warnings.len()) };
            eprintln!("iou-sandbox: {shown}: {} error(s){w}, nothing installed", errs.len());
            return Err(());
        }
    };
    match compile::compile(&policy) {
        Ok(filters) => Ok(Loaded { policy, filters, warnings: warnings.len() }),
        Err(e) => {
            eprintln!("iou-sandbox: {shown}: {e}");
            Err(())
        }
    }
}

/// Install the policy on this task ([`sys::install_policy`]) and exec the
/// command. Returns only on failure, with the exit status.
fn exec(path: &OsString, loaded: Loaded, allow_empty: bool, cmd: &[OsString]) -> ExitCode {
    let shown = path.to_string_lossy();
    let Loaded { policy, .. } = loaded;
    let fail = |status: u8, msg: &str| {
        eprintln!("iou-sandbox: {msg}");
        eprintln!("iou-sandbox: not running {:?}", cmd[0]);
        ExitCode::from(status)
    };
    if policy.allows_everything() && !allow_empty {
        return fail(
            EXIT_POLICY,
            &format!(
                "{shown}: the policy allows every request, so it would change nothing \
                 (give --allow-empty to run under it anyway)"
            ),
        );
    }
    match sys::install_policy(&policy) {
        Ok(_) => {}
        Err(e @ sys::InstallError::NoSupport(_)) => return fail(EXIT_NO_SUPPORT, &e.to_string()),
        Err(e @ (sys::InstallError::UnknownOpcodes { .. } | sys::InstallError::Compile(_))) => {
            return fail(EXIT_POLICY, &format!("{shown}: {e}"));
        }
        Err(e) => return fail(EXIT_POLICY, &e.to_string()),
    }
    let err = std::process::Command::new(&cmd[0]).args(&cmd[1..]).exec();
    eprintln!("iou-sandbox: cannot run {:?}: {err}", cmd[0]);
    ExitCode::from(EXIT_EXEC)
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|a| a.to_str()) {
        Some("record") => return observe::record(args[1..].to_vec()),
        Some("watch") => return observe::watch(args[1..].to_vec()),
        _ => {}
    }
    let Args { mode, policy: path, allow_empty } = match parse_args(args) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("iou-sandbox {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("iou-sandbox: {msg}\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let Ok(loaded) = load(&path, matches!(mode, Mode::Check)) else {
        return ExitCode::from(EXIT_POLICY);
    };
    match mode {
        Mode::Check => {
            let Loaded { policy, filters, warnings } = &loaded;
            let n: usize = filters.iter().map(|f| f.program.insns.len()).sum();
            let r = match &policy.restrict {
                Some(r) => format!(", {} task restriction(s)", r.entries().len()),
                None => String::new(),
            };
            let shown = path.to_string_lossy();
            if policy.allows_everything() {
                eprintln!("{shown}: warning: the policy allows every request (running under it needs --allow-empty)");
            }
            let w = if *warnings > 0 { format!(", {warnings} warning(s)") } else { String::new() };
            println!("{shown}: ok: {} filter(s), {n} instruction(s){r}{w}", filters.len());
            ExitCode::SUCCESS
        }
        Mode::Test(req) => test(&path, &loaded, &req),
        Mode::Explain { json } => {
            // What `iou-sandbox --policy FILE -- CMD` would install, in
            // registration order: restrictions, then filters.
            let Loaded { policy, .. } = &loaded;
            let (op_last, whose) = explain_op_last();
            let filters = match compile::compile_task(policy, op_last) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("iou-sandbox: {}: {e}", path.to_string_lossy());
                    return ExitCode::from(EXIT_POLICY);
                }
            };
            let (ruled, denied): (Vec<&CompiledFilter>, Vec<&CompiledFilter>) =
                filters.iter().partition(|f| policy.default == Action::Allow || policy.rules.contains_key(&f.opcode));
            if json {
                println!("{}", explain_json(&path.to_string_lossy(), policy, &ruled, &denied, op_last, whose));
                return ExitCode::SUCCESS;
            }
            let mut first = true;
            if let Some(r) = &policy.restrict {
                print!("# {}", explain_restrict(r));
                first = false;
            }
            for (i, f) in ruled.iter().enumerate() {
                if !first {
                    println!();
                }
                first = false;
                print!("# {}: {}", i + 1, f.explain());
            }
            if !denied.is_empty() {
                if !first {
                    println!();
                }
                print!("{}", explain_default_deny(&denied, op_last, whose));
            }
            ExitCode::SUCCESS
        }
        Mode::Exec(cmd) => exec(&path, loaded, allow_empty, &cmd),
    }
}
