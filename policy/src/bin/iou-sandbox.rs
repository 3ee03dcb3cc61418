//! iou-sandbox: run a command under an io_uring cBPF filter policy.
//!
//!   iou-sandbox --policy policy.toml [--] cmd args...
//!   iou-sandbox --policy policy.toml --explain
//!   iou-sandbox check policy.toml

use iou_policy::compile::{self, CompiledFilter};
use iou_policy::parse::parse_policy;
use iou_policy::sys::{self, Level};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

const USAGE: &str = "\
usage:
  iou-sandbox --policy FILE [--] COMMAND [ARGS...]
        set no_new_privs, install the policy's io_uring filters on this task
        (fd -1) and exec COMMAND; every io_uring ring it creates is filtered
  iou-sandbox --policy FILE --explain
        print the generated cBPF filters with a comment per instruction
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
    if let Some(f) = &first {
        if f == "check" {
            let file = it.next().ok_or("check: missing policy file")?;
            if let Some(extra) = it.next() {
                return Err(format!("check: unexpected argument {:?}", extra));
            }
            return Ok((Mode::Check, file));
        }
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

/// Read, parse, compile and validate. Errors are printed; nothing is
/// installed unless this succeeds for the whole policy.
fn load(path: &OsString) -> Result<Vec<CompiledFilter>, ()> {
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
        Ok(f) => Ok(f),
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
    let Ok(filters) = load(&path) else {
        return ExitCode::from(1);
    };
    match mode {
        Mode::Check => {
            let n: usize = filters.iter().map(|f| f.program.insns.len()).sum();
            println!(
                "{}: ok: {} filter(s), {n} instruction(s)",
                path.to_string_lossy(),
                filters.len()
            );
            ExitCode::SUCCESS
        }
        Mode::Explain => {
            for (i, f) in filters.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print!("# {}: {}", i + 1, f.explain());
            }
            ExitCode::SUCCESS
        }
        Mode::Exec(cmd) => {
            if let Err(e) = sys::set_no_new_privs() {
                eprintln!("iou-sandbox: prctl(PR_SET_NO_NEW_PRIVS): {e}");
                return ExitCode::from(1);
            }
            if let Err(e) = sys::install(Level::Task, &filters) {
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
