//! `iou-sandbox record` and `iou-sandbox watch`: the io_uring tracepoints,
//! through the library's [`iou_policy::tracefs`].

use crate::{EXIT_EXEC, EXIT_POLICY, EXIT_TRACE, EXIT_USAGE, USAGE, js};
use iou_policy::opcodes;
use iou_policy::record::shell_words;
use iou_policy::trace::FilterDeny;
use iou_policy::tracefs::{self, DenyWatch, RecordOptions, SignalGuard, TraceFsError, WatchEnd, Watched};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

fn usage(msg: &str) -> ExitCode {
    eprintln!("iou-sandbox: {msg}\n{USAGE}");
    ExitCode::from(EXIT_USAGE)
}

/// A number option's value.
fn number<T: std::str::FromStr>(name: &str, v: Option<OsString>) -> Result<T, String> {
    let v = v.ok_or(format!("{name} needs a value"))?;
    v.to_str().and_then(|s| s.parse().ok()).ok_or(format!("{name}: bad number {v:?}"))
}

/// The exit status for a tracing error: the command's could not run (127)
/// or tracing could not be set up.
fn trace_failed(e: &TraceFsError) -> ExitCode {
    eprintln!("iou-sandbox: {e}");
    ExitCode::from(if matches!(e, TraceFsError::Exec { .. }) { EXIT_EXEC } else { EXIT_TRACE })
}

/// `record -o FILE [--buffer-kb N] [--] COMMAND [ARGS...]`.
pub fn record(args: Vec<OsString>) -> ExitCode {
    let mut it = args.into_iter();
    let mut out: Option<OsString> = None;
    let mut opts = RecordOptions::default();
    let mut cmd = Vec::new();
    while let Some(a) = it.next() {
        let r = match a.to_str() {
            Some("-o") | Some("--output") => it.next().ok_or("-o needs a file".to_string()).map(|v| out = Some(v)),
            Some(s) if s.starts_with("--output=") => {
                out = Some(s["--output=".len()..].into());
                Ok(())
            }
            Some("--buffer-kb") => number("--buffer-kb", it.next()).map(|v| opts.buffer_kb = v),
            Some("--") => {
                cmd.extend(it.by_ref());
                break;
            }
            Some(s) if s.starts_with('-') => Err(format!("record: unknown option {s}")),
            _ => {
                cmd.push(a);
                cmd.extend(it.by_ref());
                break;
            }
        };
        if let Err(e) = r {
            return usage(&e);
        }
    }
    let Some(out) = out else { return usage("record: -o FILE is required (- for standard output)") };
    if cmd.is_empty() {
        return usage("record: missing command to run");
    }
    if opts.buffer_kb == 0 {
        return usage("record: --buffer-kb must be at least 1");
    }
    let out = (out != "-").then(|| PathBuf::from(out));
    if let Some(p) = &out
        && let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        eprintln!("iou-sandbox: {}: no such directory", dir.display());
        return ExitCode::from(EXIT_POLICY);
    }
    let _signals = match SignalGuard::install() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("iou-sandbox: sigaction: {e}");
            return ExitCode::from(EXIT_TRACE);
        }
    };
    let rec = match tracefs::record(&cmd, &opts) {
        Ok(r) => r,
        Err(e) => return trace_failed(&e),
    };
    let status = rec.status.map_or(EXIT_POLICY, tracefs::exit_code);
    let r = &rec.recording;
    let text = r.policy(&shell_words(&cmd));
    let written = match &out {
        Some(p) => std::fs::write(p, &text).map_err(|e| format!("{}: {e}", p.display())),
        None => std::io::stdout().write_all(text.as_bytes()).map_err(|e| format!("standard output: {e}")),
    };
    let where_to = out.as_ref().map_or("standard output".to_string(), |p| p.display().to_string());
    if let Err(e) = written {
        eprintln!("iou-sandbox: writing the policy: {e} (the command exited with status {status})");
        return ExitCode::from(EXIT_POLICY);
    }
    let c = r.counts();
    let mut seen: Vec<String> = c
        .opcodes
        .iter()
        .map(|(&op, n)| format!("{} {n}", opcodes::opcode_name(op).map_or_else(|| op.to_string(), str::to_string)))
        .collect();
    seen.extend(c.unknown.iter().map(|(name, n)| format!("{name} {n}")));
    eprintln!(
        "iou-sandbox: recorded {} request(s) of {} opcode(s) from {} task(s){}; policy written to {where_to}",
        c.requests(),
        seen.len(),
        c.tasks,
        if seen.is_empty() { String::new() } else { format!(" ({})", seen.join(", ")) }
    );
    if let Err(e) = &rec.sqpoll {
        eprintln!("iou-sandbox: warning: requests on SQPOLL rings were not recorded: {e}");
    }
    if r.lost().0 > 0 {
        eprintln!(
            "iou-sandbox: warning: the kernel lost {} event(s): opcodes may be missing (try a larger --buffer-kb)",
            r.lost().1
        );
    }
    if let (n @ 1.., Some(first)) = r.unparsed() {
        eprintln!("iou-sandbox: warning: {n} event line(s) not understood, the first: {first}");
    }
    if !c.unknown.is_empty() {
        eprintln!("iou-sandbox: warning: opcodes without a name in this tool were left out of the policy");
    }
    ExitCode::from(status)
}

/// One denial as `watch --json` prints it.
fn deny_json(deny: &FilterDeny, comm: &str, cpu: u32, timestamp: &str) -> String {
    let op = deny.opcode_num();
    format!(
        "{{\"pid\":{},\"comm\":{},\"opcode\":{},\"name\":{},\"kernel_name\":{},\"user_data\":{},\"filter\":{},\
         \"index\":{},\"deny_rest\":{},\"ring\":{},\"cpu\":{cpu},\"timestamp\":{}}}",
        deny.pid,
        js(comm),
        op.map_or("null".to_string(), |o| o.to_string()),
        op.and_then(opcodes::opcode_name).map_or("null".to_string(), js),
        js(&deny.opcode),
        js(&format!("{:#x}", deny.user_data)),
        js(deny.origin.as_str()),
        deny.index,
        deny.deny_rest,
        js(&deny.ring),
        js(timestamp)
    )
}

/// `watch [--pid PID] [--count N] [--json]`.
pub fn watch(args: Vec<OsString>) -> ExitCode {
    let mut it = args.into_iter();
    let (mut pid, mut count, mut json) = (None, None, false);
    while let Some(a) = it.next() {
        let r = match a.to_str() {
            Some("--pid") => number("--pid", it.next()).map(|v| pid = Some(v)),
            Some("--count") => number("--count", it.next()).map(|v| count = Some(v)),
            Some("--json") => {
                json = true;
                Ok(())
            }
            _ => Err(format!("watch: unexpected argument {a:?}")),
        };
        if let Err(e) = r {
            return usage(&e);
        }
    }
    if count == Some(0) {
        return usage("watch: --count must be at least 1");
    }
    let _signals = match SignalGuard::install() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("iou-sandbox: sigaction: {e}");
            return ExitCode::from(EXIT_TRACE);
        }
    };
    let w = match DenyWatch::start(pid) {
        Ok(w) => w,
        Err(e) => return trace_failed(&e),
    };
    let whose = pid.map_or("every process".to_string(), |p| format!("process {p} and what it forks"));
    eprintln!(
        "iou-sandbox: watching io_uring filter denials of {whose} ({}); interrupt to stop",
        w.instance().path().display()
    );
    let mut out = std::io::stdout().lock();
    let end = w.run(count, None, &mut |item| match item {
        Watched::Deny { line, deny } => {
            // The comm is not in the text line: the trace often does not
            // know it yet for a process that just started (`<...>`).
            let text = if json { deny_json(&deny, line.task, line.cpu, line.timestamp) } else { deny.to_string() };
            writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
        }
        Watched::Lost(n) => {
            let n = n.map_or("some".to_string(), |n| n.to_string());
            eprintln!("iou-sandbox: warning: the kernel lost {n} event(s)");
            true
        }
        Watched::Unparsed { err, .. } => {
            eprintln!("iou-sandbox: warning: {err}");
            true
        }
    });
    match end {
        Ok(WatchEnd::Count | WatchEnd::Signal(_) | WatchEnd::Stopped | WatchEnd::Deadline) => ExitCode::SUCCESS,
        Err(e) => trace_failed(&e),
    }
}
