//! iou-sandbox: run a command under an io_uring cBPF filter policy.
//!
//!   iou-sandbox --policy policy.toml [--] cmd args...
//!   iou-sandbox --policy policy.toml --explain
//!   iou-sandbox check policy.toml

use iou_policy::abi::{
    IORING_RESTRICTION_REGISTER_OP, IORING_RESTRICTION_SQE_FLAGS_ALLOWED, IORING_RESTRICTION_SQE_OP,
};
use iou_policy::compile::{self, CompiledFilter};
use iou_policy::names;
use iou_policy::opcodes;
use iou_policy::parse::parse_policy;
use iou_policy::policy::Restrict;
use iou_policy::sys::{self, Level};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

const USAGE: &str = "\
usage:
  iou-sandbox --policy FILE [--] COMMAND [ARGS...]
        set no_new_privs, install the policy's io_uring filters on this task
        (fd -1), and its [restrict] table as classic task restrictions, then
        exec COMMAND; every io_uring ring it creates is filtered
  iou-sandbox --policy FILE --explain
        print the generated cBPF filters with a comment per instruction
        (and the task restrictions)
  iou-sandbox check FILE
        validate a policy file and report every error with its line number
";

enum Mode {
    Exec(Vec<OsString>),
    Explain,
    Check,
}

fn parse_args(args: Vec<OsString>) -> Result<(Mode, OsString), String> {
    let mut it = args.into_iter();
    let mut policy: Option<OsString> = None;
    let mut explain = false;
    let mut rest: Vec<OsString> = Vec::new();
    let first = it.next();
    if let Some(f) = &first
        && f == "check"
    {
        let file = it.next().ok_or("check: missing policy file")?;
        if let Some(extra) = it.next() {
            return Err(format!("check: unexpected argument {:?}", extra));
        }
        return Ok((Mode::Check, file));
    }
    let mut next = first;
    while let Some(a) = next.take() {
        match a.to_str() {
            Some("--policy") | Some("-p") => {
                policy = Some(it.next().ok_or("--policy needs a file")?);
            }
            Some(s) if s.starts_with("--policy=") => policy = Some(OsString::from(&s[9..])),
            Some("--explain") => explain = true,
            Some("--help") | Some("-h") => return Err(String::new()),
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
        return Ok((Mode::Explain, policy));
    }
    if rest.is_empty() {
        return Err("missing command to run".into());
    }
    Ok((Mode::Exec(rest), policy))
}

/// What a policy file installs.
struct Loaded {
    filters: Vec<CompiledFilter>,
    restrict: Option<Restrict>,
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
fn load(path: &OsString) -> Result<Loaded, ()> {
    let shown = path.to_string_lossy();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("iou-sandbox: {shown}: {e}");
            return Err(());
        }
    };
    let policy = match parse_policy(&text) {
        Ok(p) => p,
        Err(errs) => {
            for e in &errs {
                eprintln!("{shown}:{}: error: {}", e.line, e.msg);
            }
            eprintln!("iou-sandbox: {shown}: {} error(s), nothing installed", errs.len());
            return Err(());
        }
    };
    match compile::compile(&policy) {
        Ok(filters) => Ok(Loaded { filters, restrict: policy.restrict }),
        Err(e) => {
            eprintln!("iou-sandbox: {shown}: {e}");
            Err(())
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (mode, path) = match parse_args(args) {
        Ok(x) => x,
        Err(msg) => {
            if msg.is_empty() {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("iou-sandbox: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Ok(Loaded { filters, restrict }) = load(&path) else {
        return ExitCode::from(1);
    };
    match mode {
        Mode::Check => {
            let n: usize = filters.iter().map(|f| f.program.insns.len()).sum();
            let r = match &restrict {
                Some(r) => format!(", {} task restriction(s)", r.entries().len()),
                None => String::new(),
            };
            println!("{}: ok: {} filter(s), {n} instruction(s){r}", path.to_string_lossy(), filters.len());
            ExitCode::SUCCESS
        }
        Mode::Explain => {
            for (i, f) in filters.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print!("# {}: {}", i + 1, f.explain());
            }
            if let Some(r) = &restrict {
                if !filters.is_empty() {
                    println!();
                }
                print!("# {}", explain_restrict(r));
            }
            ExitCode::SUCCESS
        }
        Mode::Exec(cmd) => {
            if let Err(e) = sys::set_no_new_privs() {
                eprintln!("iou-sandbox: prctl(PR_SET_NO_NEW_PRIVS): {e}");
                return ExitCode::from(1);
            }
            // Filters first: once classic restrictions are set, the task's
            // rings are restricted, but task-level registration is not.
            let installed = sys::install(Level::Task, &filters).and_then(|()| match &restrict {
                Some(r) => sys::register_task_restrictions(&r.entries()),
                None => Ok(()),
            });
            if let Err(e) = installed {
                eprintln!("iou-sandbox: {e}");
                eprintln!("iou-sandbox: not running {:?}", cmd[0]);
                return ExitCode::from(1);
            }
            let err = std::process::Command::new(&cmd[0]).args(&cmd[1..]).exec();
            eprintln!("iou-sandbox: cannot run {:?}: {err}", cmd[0]);
            ExitCode::from(127)
        }
    }
}
