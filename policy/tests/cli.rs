//! The iou-sandbox binary: check, explain, argument errors. (The exec path
//! needs a kernel with the series; it is exercised by the kernel tests.)
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iou-sandbox"))
}

fn tmp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("iou-sandbox-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Every one of `wants` is in `s`.
fn has_all(s: &str, wants: &[impl AsRef<str>]) {
    for want in wants.iter().map(AsRef::as_ref) {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
}

#[test]
fn check_good_file() {
    let out = bin().args(["check", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy.toml")]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 10 filter(s)"));
}

#[test]
fn check_bad_file_reports_every_error_with_line() {
    let p = tmp(
        "bad.toml",
        "default = \"deny\"\n[op.raed]\naction = \"allow\"\n[op.socket]\nallow_if = { family = [\"inet9\"] }\n",
    );
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:2:5: error: unknown opcode `raed` (did you mean `read`?)"), "{err}");
    assert!(
        err.contains(
            "bad.toml:5:24: error: op.socket.allow_if.family: unknown address family \"inet9\" (did you mean `inet`?)"
        ),
        "{err}"
    );
    assert!(err.contains("2 error(s), nothing installed"), "{err}");
}

#[test]
fn bad_policy_runs_nothing() {
    let p = tmp("bad2.toml", "default = \"deny\"\n[op.read]\naction = 3\n");
    let marker = std::env::temp_dir().join(format!("iou-sandbox-ran-{}", std::process::id()));
    let out = bin().arg("--policy").arg(&p).arg("--").arg("touch").arg(&marker).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!marker.exists());
}

#[test]
fn missing_file() {
    let out = bin().args(["check", "/nonexistent/p.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/p.toml"));
}

#[test]
fn explain_prints_commented_filters() {
    let out = bin()
        .args(["--policy", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy.toml"), "--explain"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("filter for IORING_OP_CONNECT (16), pdu_size 24"), "{s}");
    // Comments wrap: join their continuation lines.
    let joined = s.replace("\n#   ", " ");
    assert!(s.contains("flags DENY_REST"), "{s}");
    assert!(joined.contains("after the filter with DENY_REST"), "{s}");
    assert!(joined.contains("# Guarantee: a request whose opcode has no allowing rule completes with -EACCES"), "{s}");
    assert!(s.contains("ld [16]") && s.contains("; load family"), "{s}");
}

#[test]
fn usage_errors() {
    for args in [&[][..], &["--policy"][..], &["--bogus"][..], &["check"][..], &["--policy", "x.toml"][..]] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    }
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
}

#[test]
fn explain_names_flag_bits() {
    let p = tmp(
        "flags.toml",
        "default = \"allow\"\n[op.openat2]\nallow_if = { flags_clear = [\"O_CREAT\", \"O_TMPFILE\"], \
         mode_clear = [\"S_ISUID\"], resolve_set = [\"RESOLVE_BENEATH\"], sqe_flags_clear = [\"async\"] }\n",
    );
    let out = bin().arg("--policy").arg(&p).arg("--explain").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8_lossy(&out.stdout);
    let creat = libc::O_CREAT;
    let tmpfile = libc::O_TMPFILE;
    has_all(
        &s,
        &[
            format!("flags O_CREAT ({creat:#x}) must not be set"),
            format!("; O_CREAT ({creat:#x}) set?"),
            format!("flags O_TMPFILE ({tmpfile:#x}) must not be set"),
            format!("all of O_TMPFILE ({tmpfile:#x}) set?"),
            "mode S_ISUID (0o4000) must not be set".to_string(),
            "resolve RESOLVE_BENEATH (0x8) must be set".to_string(),
            "sqe_flags IOSQE_ASYNC (0x10) must not be set".to_string(),
            "; IOSQE_ASYNC set?".to_string(),
        ],
    );
}

#[test]
fn restrict_in_check_and_explain() {
    let p = tmp(
        "restrict.toml",
        "default = \"allow\"\n[restrict]\nsqe_ops = [\"read\", \"nop\"]\nregister_ops = [\"register_buffers\"]\n\
         sqe_flags_allowed = [\"async\"]\n",
    );
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("ok: 0 filter(s), 0 instruction(s), 5 task restriction(s)"), "{s}");
    let out = bin().arg("--policy").arg(&p).arg("--explain").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8_lossy(&out.stdout);
    has_all(
        &s,
        &[
            "# task restrictions (IORING_REGISTER_RESTRICTIONS, fd -1), 5 entries:",
            "  SQE_OP IORING_OP_READ (22)",
            "  SQE_OP IORING_OP_NOP (0)",
            "  REGISTER_OP IORING_REGISTER_BUFFERS (0)",
            "  SQE_FLAGS_ALLOWED IOSQE_ASYNC (0x10)",
            "  SQE_FLAGS_REQUIRED none (0x0)",
        ],
    );
}

/// A bad [restrict] installs nothing and runs nothing.
#[test]
fn bad_restrict_runs_nothing() {
    let p = tmp("bad-restrict.toml", "default = \"allow\"\n[restrict]\nsqe_ops = [\"bogus\"]\n");
    let marker = std::env::temp_dir().join(format!("iou-sandbox-ran-r-{}", std::process::id()));
    let out = bin().arg("--policy").arg(&p).arg("--").arg("touch").arg(&marker).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":3:12: error: restrict.sqe_ops: unknown opcode `bogus`"));
    assert!(!marker.exists());
}

#[test]
fn version() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("iou-sandbox {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_documents_exit_statuses() {
    let out = bin().arg("--help").output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    has_all(
        &s,
        &[
            "exit status:",
            "  1    the policy has errors",
            "  2    usage error",
            "  3    this kernel has no io_uring BPF filtering",
            "  5    record/watch: tracing could not be set up",
            "  127  COMMAND",
            "record exits with COMMAND's status (128+N if signal N killed it)",
            "iou-sandbox record -o FILE [--buffer-kb N] [--] COMMAND [ARGS...]",
            "iou-sandbox watch [--pid PID] [--count N] [--json]",
        ],
    );
}

/// `record` and `watch` refuse bad command lines before tracing anything.
#[test]
fn record_and_watch_usage_errors() {
    for (args, want) in [
        (&["record", "--", "true"][..], "record: -o FILE is required (- for standard output)"),
        (&["record", "-o", "x.toml"][..], "record: missing command to run"),
        (&["record", "-o"][..], "-o needs a file"),
        (&["record", "-o", "x.toml", "--bogus", "true"][..], "record: unknown option --bogus"),
        (&["record", "-o", "x.toml", "--buffer-kb", "lots", "true"][..], "--buffer-kb: bad number"),
        (&["record", "-o", "x.toml", "--buffer-kb", "0", "true"][..], "--buffer-kb must be at least 1"),
        (&["watch", "--count", "0"][..], "watch: --count must be at least 1"),
        (&["watch", "--pid", "me"][..], "--pid: bad number"),
        (&["watch", "--count"][..], "--count needs a value"),
        (&["watch", "now"][..], "watch: unexpected argument"),
    ] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want) && err.contains("usage:"), "{args:?}: {err}");
    }
    let out = bin().args(["record", "-o", "/nonexistent/dir/p.toml", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir: no such directory"));
}

/// Where tracing is already there (root, tracefs mounted, the io_uring
/// events; this test mounts nothing): `record` of a process tree that
/// submits NOP and READ writes the policy of exactly those, with their
/// counts, which `check` accepts without a warning, and exits with the
/// command's status.
#[test]
fn record_on_this_kernel() {
    let submitter = option_env!("CARGO_BIN_EXE_iou-record-check");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let event = std::path::Path::new("/sys/kernel/tracing/events/io_uring/io_uring_submit_req");
    let (Some(submitter), true, true) = (submitter, root, event.is_dir()) else {
        eprintln!("no tracefs with io_uring events here (or not root): skipping");
        return;
    };
    let p = tmp("recorded.toml", "");
    let out = bin().args(["record", "-o"]).arg(&p).args(["--", submitter, "__submit", "tree"]).output().unwrap();
    assert_eq!(out.status.code(), Some(42), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("recorded 9 request(s) of 2 opcode(s) from 3 task(s) (nop 6, read 3)"), "{err}");
    let text = std::fs::read_to_string(&p).unwrap();
    has_all(
        &text,
        &["default = \"deny\"\n\nop.nop = \"allow\"   # NOP: 6 requests\nop.read = \"allow\"  # READ: 3 requests\n"],
    );
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    // No request at all, a status of its own; to standard output.
    let out = bin().args(["record", "-o", "-", "--", "sh", "-c", "exit 3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("every opcode is denied.\ndefault = \"deny\"\n"));
}

#[test]
fn repeated_policy_is_a_usage_error() {
    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy.toml");
    for args in [
        &["--policy", good, "--policy", good, "--", "true"][..],
        &["--policy", good, &format!("--policy={good}"), "--explain"][..],
        &["-p", good, "-p", good, "--explain"][..],
    ] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--policy given twice"), "{out:?}");
    }
}

/// A policy that allows everything changes nothing: refused before the
/// kernel is even asked, unless --allow-empty; `check` warns about it.
#[test]
fn allow_everything_is_refused_without_allow_empty() {
    for (name, text) in [
        ("empty.toml", "default = \"allow\"\n"),
        ("allow-all.toml", "default = \"allow\"\nop.read = \"allow\"\nop.write = \"allow\"\n"),
        ("all-ports.toml", "default = \"allow\"\n[op.connect]\nallow_if = { port = [\"0-1000\", \"1001-65535\"] }\n"),
    ] {
        let p = tmp(name, text);
        let marker = std::env::temp_dir().join(format!("iou-sandbox-ran-e-{}-{name}", std::process::id()));
        let out = bin().arg("--policy").arg(&p).arg("--").arg("touch").arg(&marker).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("the policy allows every request") && err.contains("--allow-empty"), "{err}");
        assert!(!marker.exists());
        let out = bin().arg("check").arg(&p).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("warning: the policy allows every request"));
    }
    // One denied opcode is enough to make it a policy.
    let p = tmp("one-deny.toml", "default = \"allow\"\nop.socket = \"deny\"\n");
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
}

/// Without kernel support, nothing runs and the exit status says why;
/// with it, the command runs. (The probe registers only on a throwaway
/// ring, so the test process itself is not filtered.)
#[test]
fn kernel_support_is_probed_once_with_its_own_status() {
    let marker = std::env::temp_dir().join(format!("iou-sandbox-ran-k-{}", std::process::id()));
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo/policy.toml");
    for extra in [&[][..], &["--allow-empty"][..]] {
        let _ = std::fs::remove_file(&marker);
        let out = bin().args(extra).args(["--policy", demo, "--", "touch"]).arg(&marker).output().unwrap();
        match iou_policy::sys::probe() {
            Err(e) => {
                assert_eq!(out.status.code(), Some(3), "{out:?}");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("this kernel has no io_uring BPF filtering"), "{err}");
                assert!(err.contains(&e.to_string()), "{err}");
                assert_eq!(err.lines().count(), 2, "one message and `not running`: {err}");
                assert!(!marker.exists());
            }
            Ok(_) => {
                assert!(out.status.success(), "{out:?}");
                assert!(marker.exists());
            }
        }
    }
    let _ = std::fs::remove_file(&marker);
}

/// `check` as a linter: errors and warnings in file order, each with line
/// and column, typos answered with the nearest name, duplicate keys named;
/// warnings alone do not fail the check.
#[test]
fn check_lints() {
    let p = tmp(
        "lint.toml",
        "default = \"deny\"\nop.read = \"deny\"\n[op.socket]\nallow_if = { famliy = [\"inet\"] }\n\
         [op.connect]\nallow_if = { port = [\"443\", \"400-500\"] }\n",
    );
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].ends_with(
            "lint.toml:2:4: warning: op.read = \"deny\" is what `default = \"deny\"` gives: the rule does nothing"
        ),
        "{err}"
    );
    assert!(
        lines[1].contains("lint.toml:4:14: error: op.socket: unknown condition `famliy` (did you mean `family`?)"),
        "{err}"
    );
    assert!(lines[2].ends_with("lint.toml:6:29: warning: op.connect.allow_if.port: 400-500 overlaps 443"), "{err}");
    assert!(lines[3].ends_with("1 error(s), 2 warning(s), nothing installed"), "{err}");

    let p = tmp("warn-only.toml", "default = \"allow\"\nop.write = \"allow\"\nop.socket = \"deny\"\n");
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("warn-only.toml:2:4: warning: op.write = \"allow\""));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 2 filter(s), 2 instruction(s), 1 warning(s)"));

    let p = tmp("dup-key.toml", "default = \"deny\"\n[op.read]\naction = \"allow\"\n[op.read]\naction = \"deny\"\n");
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dup-key.toml:4:5: error: duplicate key `read` (`[op.read]`)"), "{err}");
}

/// `check` on an OR group that another contains: the warning stands at
/// the narrower group, a note at the one that contains it, both as
/// FILE:LINE:COLUMN; a group that only overlaps another is not warned
/// about.
#[test]
fn check_names_the_group_that_contains_another() {
    let p = tmp(
        "contained.toml",
        "default = \"deny\"\n[[op.connect.allow_if]]\nport = [\"443\"]\nipv4 = [\"10.1.0.0/16\"]\n\
         [[op.connect.allow_if]]\nport = [\"400-500\"]\nipv4 = [\"10.0.0.0/8\"]\n\
         [[op.connect.allow_if]]\nport = [\"450-600\"]\n",
    );
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let file = p.display();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            format!(
                "{file}:2:1: warning: op.connect: allow_if[0] is contained in allow_if[1]: every request it allows, \
                 allow_if[1] allows too, so it adds nothing"
            ),
            format!("{file}:5:1: note: op.connect: allow_if[1] is here"),
        ]
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 warning(s)"), "{out:?}");
}

/// `test`: one described request on the oracle, with verdict, deciding
/// rule and an exit status per verdict.
#[test]
fn test_evaluates_a_request() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy.toml");
    let run = |args: &[&str]| {
        let out = bin().arg("test").arg(example).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&["--op", "connect", "--addr", "10.1.2.3:443"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("request: IORING_OP_CONNECT (16): family AF_INET (2), port 443, address 10.1.2.3"), "{out}");
    assert!(out.contains("verdict: allow\ndecided by: op.connect.allow_if[0]: every condition holds"), "{out}");
    let (code, out, _) = run(&["--op", "connect", "--addr", "[::1]:8443"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("verdict: deny (-EACCES)"), "{out}");
    assert!(
        out.contains("allow_if[0]: port: 8443 is in no listed range; allow_if[1]: port: 8443 is in no listed range"),
        "{out}"
    );
    let (code, out, _) = run(&["--op", "openat", "--flags", "O_CREAT"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("(IOSQE_ASYNC added"), "{out}");
    assert!(
        out.contains(&format!("decided by: op.openat.allow_if: flags_clear: O_CREAT ({:#x}) is set", libc::O_CREAT)),
        "{out}"
    );
    let (code, out, _) = run(&["--op", "openat", "--flags=O_RDONLY,O_CLOEXEC"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) = run(&["--op", "fsync"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("decided by: default: no rule for fsync: default = \"deny\""), "{out}");
    let (code, _, err) = run(&["--op", "conect"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown opcode `conect` (did you mean `connect`?)"), "{err}");
    let (code, _, err) = run(&["--op", "read", "--addr", "1.2.3.4:5"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--addr does not apply to IORING_OP_READ (22)"), "{err}");
    // Classic restrictions decide too.
    let p = tmp("test-restrict.toml", "default = \"allow\"\nop.socket = \"deny\"\n[restrict]\nsqe_ops = [\"read\"]\n");
    let out = bin().arg("test").arg(&p).args(["--op", "write"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stdout).contains("decided by: restrict: sqe_ops does not list write"));
}

/// `--explain --json`: one JSON object with what would be installed.
#[test]
fn explain_json() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy.toml");
    let out = bin().args(["--policy", example, "--explain", "--json"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["default"], "deny");
    assert_eq!(v["restrictions"], serde_json::Value::Null);
    let filters = v["filters"].as_array().unwrap();
    assert_eq!(filters.len(), 10);
    let connect = filters.iter().find(|f| f["name"] == "connect").unwrap();
    assert_eq!(connect["opcode"], 16);
    assert_eq!(connect["pdu_size"], 24);
    let insns = connect["insns"].as_array().unwrap();
    assert_eq!(insns.last().unwrap()["text"], "ret #0x0");
    assert!(insns.iter().any(|i| i["comment"].as_str().unwrap().contains("port")));
    let op_last = v["op_last"].as_u64().unwrap();
    let deny = v["deny_filters"].as_array().unwrap();
    assert_eq!(deny.len() as u64, op_last - 10);
    assert!(v["guarantee"].as_str().unwrap().contains("-EACCES"));
    let out = bin().args(["--policy", example, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The README shows `check` on a bad file: that output is the tool's.
#[test]
fn readme_lint_output_is_real() {
    let readme = include_str!("../README.md");
    let cmd = "    $ iou-sandbox check bad-policy.toml\n";
    let at = readme.find(cmd).expect("the README shows check on a bad file") + cmd.len();
    let shown: Vec<&str> = readme[at..].lines().take_while(|l| l.starts_with("    ")).map(|l| &l[4..]).collect();
    let file_at = readme.find("for this file (exit status 1):\n\n```\n").unwrap();
    let body = &readme[file_at..];
    let body = &body[body.find("```\n").unwrap() + 4..];
    let body = &body[..body.find("```").unwrap()];
    let dir = std::env::temp_dir().join(format!("iou-sandbox-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad-policy.toml"), body).unwrap();
    let out = bin().current_dir(&dir).args(["check", "bad-policy.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let got = String::from_utf8_lossy(&out.stderr);
    assert_eq!(got.lines().collect::<Vec<_>>(), shown);
}

/// The guest fuzzer's command line: `--dry-run` counts the default run on
/// the model alone, a bad argument is a usage error (2), and a run of no
/// rings is a skip (4) on a kernel without IORING_REGISTER_BPF_FILTER, an
/// empty pass (0) on one with it.
#[cfg(feature = "oracle")]
#[test]
fn fuzz_check_command_line() {
    let fuzz = || Command::new(env!("CARGO_BIN_EXE_iou-fuzz-check"));
    let out = fuzz().arg("--dry-run").output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    has_all(&s, &["# seed 0x66757a7a, 24 rings of 16 requests", " registrations, 384 requests, ", " 0 disagreements"]);
    let fuzz_line = s.lines().find(|l| l.starts_with("# fuzz: ")).expect("the fuzz line");
    assert!(fuzz_line.contains(" programs (") && fuzz_line.contains(" valid, "), "{fuzz_line}");
    for bad in [&["--rings"][..], &["--seed", "x"], &["--bogus"]] {
        let out = fuzz().args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: iou-fuzz-check"));
    }
    let out = fuzz().args(["--rings", "0"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(4) => assert!(s.contains("1..0 # SKIP"), "{s}"),
        Some(0) => has_all(&s, &["1..0", "# Totals: pass:0 fail:0"]),
        other => panic!("exit {other:?}: {s}"),
    }
}
