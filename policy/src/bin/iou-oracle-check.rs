//! iou-oracle-check: the kernel's verdicts against the oracle's.
//!
//! For a fixed-seed sequence of policies (a few fixed ones, one with OR
//! groups of lists long enough for the compiler's long-jump trampoline,
//! random single policies and random stacks of two or three), each on a
//! fresh ring: the
//! compiled filters are registered at ring level, real requests are
//! submitted (NOP, READ, SOCKET, OPENAT, OPENAT2, CONNECT), and for every
//! request "completed with -EACCES" must equal "the oracle denies it"
//! ([`FilterSet`] over the filter context the kernel builds, modelled by
//! `kcheck`), and the oracle must agree with the policies' meaning. A
//! request the oracle allows but that fails with -EACCES is re-run on a
//! ring without filters: if it gets -EACCES there too, its test fails as
//! one the check cannot run (`--baseline` checks the requests alone).
//! A denied OPENAT/OPENAT2 must not have created its file.
//!
//! Then a few policies with a `[restrict]` table, each in a child process
//! that sets no_new_privs and registers the filters at task level and the
//! classic restrictions: on a new ring, -EACCES must equal "restrictions or
//! filters deny", an unlisted register opcode must fail with -EACCES, and
//! a second IORING_REGISTER_RESTRICTIONS with -EPERM.
//!
//! Prints KTAP (one test per policy or stack) and exits 0 if every test
//! passed, 1 on any failure, 4 (kselftest skip) if the kernel has no
//! IORING_REGISTER_BPF_FILTER.
//!
//!   iou-oracle-check [--seed N] [--policies N] [--stacks N] [--requests N] [--dir DIR] [--baseline] [-v]
//!
//! `--baseline` registers no filter and expects every request to be
//! allowed: a check of the requests themselves, on any kernel.

use iou_policy::compile::{CompiledFilter, compile};
use iou_policy::kcheck::{self, Drain, OpenPath, Req, Request, Rng, stack_allows, stack_set};
use iou_policy::opcodes::{IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_SOCKET};
use iou_policy::parse::parse_policy;
use iou_policy::policy::{Policy, Rule};
use iou_policy::sys::{self, Level};
use iou_policy::uring::{Ring, Sqe};
use std::ffi::CString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Policies that pin down DENY_REST and stacking, with requests of their
/// own (random requests are added too).
const FIXED: &[(&str, &[&str])] = &[
    ("deny_rest: only NOP allowed", &["default = \"deny\"\nop.nop = \"allow\"\n"]),
    (
        "deny_rest: socket and connect conditions",
        &["default = \"deny\"\n[op.socket]\nallow_if = { family = [\"inet\", \"unix\"], type = [\"stream\"] }\n\
           [op.connect]\nallow_if = { port = [\"1-1023\"], ipv4 = [\"127.0.0.0/8\"], ipv6 = [\"::1/128\"] }\n"],
    ),
    (
        "stack: every policy must allow",
        &[
            "default = \"allow\"\n[op.socket]\nallow_if = { family = [\"inet\", \"inet6\"] }\n",
            "default = \"allow\"\n[op.socket]\nallow_if = { type = [\"dgram\"] }\n",
        ],
    ),
    (
        "stack: a deny entry is not lifted",
        &[
            "default = \"deny\"\nop.nop = \"allow\"\n",
            "default = \"allow\"\nop.read = \"allow\"\nop.socket = \"allow\"\n",
        ],
    ),
    (
        "stack: DENY_REST spares opcodes with older filters",
        &[
            "default = \"allow\"\n[op.read]\nallow_if = { sqe_flags_clear = [\"async\"] }\n",
            "default = \"deny\"\nop.nop = \"allow\"\n",
        ],
    ),
    ("examples/policy.toml", &[include_str!("../../examples/policy.toml")]),
    // What prep puts in the context: O_LARGEFILE forced except with O_PATH,
    // the OPENAT mode dropped without O_CREAT, CONNECT fields only as far
    // as the address length covers them.
    (
        "context: forced O_LARGEFILE, dropped mode, short addresses",
        &[
            "default = \"allow\"\n[op.openat]\nallow_if = { flags_set = [\"O_LARGEFILE\"], mode_clear = [\"S_IRUSR\"] }\n\
           [op.openat2]\nallow_if = { flags_clear = [\"O_LARGEFILE\"] }\n\
           [op.connect]\nallow_if = { family = [\"inet\"], port = [\"0\"] }\n",
        ],
    ),
];

/// Task-level policies with classic restrictions: each runs in a child
/// process (restrictions can be set once per task), which sets
/// no_new_privs, registers the filters at task level and the restrictions,
/// then checks requests on a new ring against both models.
const RESTRICTED: &[(&str, &str)] = &[
    ("task: restrictions allow NOP and READ only", "default = \"allow\"\n[restrict]\nsqe_ops = [\"nop\", \"read\"]\n"),
    (
        "task: filters and restrictions, ASYNC allowed",
        "default = \"deny\"\nop.nop = \"allow\"\nop.read = \"allow\"\n[op.socket]\nallow_if = { family = [\"inet\", \"unix\"] }\n\
         [restrict]\nsqe_ops = [\"nop\", \"socket\", \"openat\", \"read\"]\nsqe_flags_allowed = [\"async\"]\n\
         register_ops = [\"register_bpf_filter\"]\n",
    ),
    (
        "task: ASYNC required, IO_DRAIN allowed, no O_CREAT",
        "default = \"allow\"\n[op.openat]\nallow_if = { flags_clear = [\"O_CREAT\"] }\n\
         [restrict]\nsqe_ops = [\"nop\", \"openat\", \"openat2\", \"read\"]\nsqe_flags_required = [\"async\"]\n\
         sqe_flags_allowed = [\"io_drain\"]\n",
    ),
];

struct Case {
    name: String,
    stack: Vec<(Policy, Vec<CompiledFilter>)>,
    reqs: Vec<Request>,
}

struct Env {
    dir: PathBuf,
    dirfd: i32,
    zero: i32,
    /// READ's buffer: lives as long as the program, so that no request can
    /// outlive it.
    buf: Box<[u8; 16]>,
    next_new: u64,
    verbose: bool,
    /// `--baseline`: register nothing and expect no request to be denied
    /// (checks the requests themselves, on any kernel with io_uring).
    baseline: bool,
}

#[derive(Default)]
struct Stats {
    requests: usize,
    denied: usize,
    pending: usize,
    /// Requests whose opcode has an `allow_if` rule in the stack: decided
    /// by the opcode's data and flags. (allowed, denied)
    by_conditions: (usize, usize),
}

fn fixed_requests() -> Vec<Request> {
    use kcheck::*;
    let o = |op, flags: i32, path| Req::Open { op, flags: flags as u64, mode: 0o644, resolve: 0, path };
    let reqs = vec![
        Req::Nop,
        Req::Read,
        Req::Socket { family: AF_UNIX, ty: SOCK_STREAM, protocol: 0 },
        Req::Socket { family: 2, ty: SOCK_STREAM, protocol: 6 },
        Req::Socket { family: 2, ty: SOCK_DGRAM | SOCK_CLOEXEC, protocol: 0 },
        Req::Socket { family: 10, ty: SOCK_STREAM, protocol: 0 },
        Req::Socket { family: 10, ty: SOCK_DGRAM, protocol: 17 },
        o(IORING_OP_OPENAT, libc::O_RDONLY, OpenPath::Existing),
        o(IORING_OP_OPENAT, libc::O_CREAT | libc::O_WRONLY, OpenPath::New),
        o(IORING_OP_OPENAT2, libc::O_RDONLY, OpenPath::Existing),
        Req::Open { op: IORING_OP_OPENAT2, flags: 0, mode: 0, resolve: 0x08, path: OpenPath::Existing },
        Req::Connect { sock_family: 2, addr: sockaddr_in(80, 0x7f00_0001) },
        Req::Connect { sock_family: 2, addr: sockaddr_in(8080, 0x7f00_0001) },
        Req::Connect { sock_family: 2, addr: sockaddr_in(443, 0x0a01_0203) },
        Req::Connect { sock_family: 10, addr: sockaddr_in6(22, 1) },
        Req::Connect { sock_family: 1, addr: sockaddr_un("nonexistent-socket") },
        o(IORING_OP_OPENAT, libc::O_PATH, OpenPath::Existing),
        o(IORING_OP_OPENAT2, libc::O_PATH, OpenPath::Existing),
        Req::Connect { sock_family: 2, addr: sockaddr_in(80, 0x7f00_0001)[..8].to_vec() },
        Req::Connect { sock_family: 2, addr: sockaddr_in(80, 0x7f00_0001)[..1].to_vec() },
    ];
    let mut out: Vec<Request> = reqs.iter().map(|r| Request { sqe_flags: 0, req: r.clone() }).collect();
    out.push(Request { sqe_flags: 0x10, req: Req::Read });
    out.push(Request { sqe_flags: 0x10, req: Req::Nop });
    out
}

fn build_cases(seed: u64, policies: usize, stacks: usize, nreq: usize) -> Result<Vec<Case>, String> {
    let mut rng = Rng::new(seed);
    let mut cases = Vec::new();
    let with_filters = |p: Policy| -> Result<(Policy, Vec<CompiledFilter>), String> {
        let f = compile(&p).map_err(|e| e.to_string())?;
        Ok((p, f))
    };
    for (name, texts) in FIXED {
        let mut stack = Vec::new();
        for t in texts.iter() {
            let p = parse_policy(t).map_err(|e| format!("{name}: {e:?}"))?;
            stack.push(with_filters(p)?);
        }
        let ps: Vec<&Policy> = stack.iter().map(|(p, _)| p).collect();
        let mut reqs = fixed_requests();
        reqs.extend(kcheck::gen_requests(&mut rng, &ps, nreq));
        cases.push(Case { name: name.to_string(), stack, reqs });
    }
    // OR groups with lists too long for direct jumps: the compiler's
    // long-jump trampoline, against the kernel.
    {
        let p = kcheck::long_policy(&mut rng);
        let mut reqs = fixed_requests();
        reqs.extend(kcheck::gen_requests(&mut rng, &[&p], 3 * nreq));
        let (p, f) = with_filters(p)?;
        let n: usize = f.iter().map(|x| x.program.insns.len()).sum();
        cases.push(Case {
            name: format!("trampoline: long lists in OR groups, {n} instructions"),
            stack: vec![(p, f)],
            reqs,
        });
    }
    for i in 0..policies {
        let p = kcheck::gen_policy(&mut rng);
        let reqs = kcheck::gen_requests(&mut rng, &[&p], nreq);
        let (p, f) = with_filters(p)?;
        let name =
            format!("policy {}: default {:?}, {} rule(s), {} filter(s)", i + 1, p.default, p.rules.len(), f.len());
        cases.push(Case { name, stack: vec![(p, f)], reqs });
    }
    for i in 0..stacks {
        let n = 2 + rng.below(2) as usize;
        let mut stack = Vec::new();
        for _ in 0..n {
            stack.push(with_filters(kcheck::gen_policy(&mut rng))?);
        }
        let ps: Vec<&Policy> = stack.iter().map(|(p, _)| p).collect();
        let reqs = kcheck::gen_requests(&mut rng, &ps, nreq + 2);
        let nf: usize = stack.iter().map(|(_, f)| f.len()).sum();
        cases.push(Case { name: format!("stack {}: {n} policies, {nf} filter(s)", i + 1), stack, reqs });
    }
    Ok(cases)
}

fn close(fd: i32) {
    // SAFETY: closing an fd this program owns.
    unsafe { libc::close(fd) };
}

/// Submit one request on `ring`. `Ok(None)`: it did not complete in time
/// (an allowed CONNECT that waits; it cannot be a denial, which completes
/// at submission).
fn submit(env: &mut Env, ring: &mut Ring, r: &Request, ud: u64) -> Result<Option<i32>, String> {
    let mut sqe = Sqe { opcode: r.opcode(), flags: r.sqe_flags, user_data: ud, ..Default::default() };
    let path;
    let how: [u64; 3];
    let mut sock = -1;
    let addr_buf;
    match &r.req {
        Req::Nop => {}
        Req::Read => {
            sqe.fd = env.zero;
            sqe.addr = env.buf.as_mut_ptr() as u64;
            sqe.len = env.buf.len() as u32;
        }
        Req::Socket { family, ty, protocol } => {
            sqe.fd = *family as i32;
            sqe.off = *ty as u64;
            sqe.len = *protocol;
        }
        Req::Open { op, flags, mode, resolve, path: which } => {
            let name = match which {
                OpenPath::Dir => ".".to_string(),
                OpenPath::Existing => "existing".to_string(),
                OpenPath::New => {
                    env.next_new += 1;
                    format!("new-{}", env.next_new)
                }
            };
            path = CString::new(name).expect("no NUL");
            sqe.fd = env.dirfd;
            sqe.addr = path.as_ptr() as u64;
            if *op == iou_policy::opcodes::IORING_OP_OPENAT {
                sqe.len = *mode as u32;
                sqe.op_flags = *flags as u32;
            } else {
                how = [*flags, *mode, *resolve];
                sqe.off = how.as_ptr() as u64;
                sqe.len = std::mem::size_of_val(&how) as u32;
            }
        }
        Req::Connect { sock_family, addr } => {
            // SAFETY: plain socket(2).
            sock = unsafe { libc::socket(*sock_family as i32, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            if sock < 0 {
                return Err(format!("socket({sock_family}): {}", std::io::Error::last_os_error()));
            }
            addr_buf = {
                let mut b = [0u8; 128];
                b[..addr.len()].copy_from_slice(addr);
                b
            };
            sqe.fd = sock;
            sqe.addr = addr_buf.as_ptr() as u64;
            sqe.off = addr.len() as u64;
        }
    }
    // The kernel copies names, open_how and addresses at submission; the
    // buffers above outlive it.
    // A denial completes during submission; only an allowed CONNECT can
    // take long (a route to nowhere), so it is not waited for long.
    let wait = if matches!(r.req, Req::Connect { .. }) { Duration::from_secs(1) } else { Duration::from_secs(3) };
    // SAFETY: the path, the open_how and the socket address are copied by
    // the kernel at submission, while `path`, `how` and `addr_buf` live;
    // READ writes into `env.buf`, which outlives every ring (a READ of
    // /dev/zero completes at once in any case); NOP and SOCKET carry no
    // address.
    let res = unsafe { ring.run(&sqe, wait) }.map_err(|e| format!("io_uring: {e}"))?;
    if sock >= 0 {
        close(sock);
    }
    let res = res.map(|c| c.res);
    if let Some(fd) = res {
        let op = r.opcode();
        if fd >= 0 && matches!(op, IORING_OP_SOCKET | IORING_OP_OPENAT | IORING_OP_OPENAT2) {
            close(fd);
        }
    } else if matches!(r.req, Req::Read) {
        return Err("READ from /dev/zero did not complete".into());
    }
    Ok(res)
}

fn exists_in_dir(env: &Env, n: u64) -> bool {
    env.dir.join(format!("new-{n}")).exists()
}

/// Run one case; its failures as diagnostic lines.
fn run_case(env: &mut Env, case: &Case, st: &mut Stats) -> Vec<String> {
    let mut fails = Vec::new();
    let mut ring = match Ring::new(8) {
        Ok(r) => r,
        Err(e) => return vec![format!("io_uring_setup: {e}")],
    };
    for (p, filters) in case.stack.iter().filter(|_| !env.baseline) {
        if let Err(e) = sys::install(Level::Ring(ring.fd()), filters) {
            return vec![format!("{e}"), format!("policy: {p:?}")];
        }
    }
    let set = stack_set(&case.stack);
    let mut denied = 0;
    let mut drain = Drain::default();
    let mut in_flight = false;
    for (i, r) in case.reqs.iter().enumerate() {
        let ud = 0x5eed_0000 + i as u64;
        let ctx = drain.ctx(r, ud);
        let oracle = set.allows(&ctx) || env.baseline;
        let meaning = stack_allows(&case.stack, &ctx) || env.baseline;
        let direct = case.stack.len() != 1 || case.stack[0].0.allows(&ctx);
        if oracle != meaning || (case.stack.len() == 1 && !env.baseline && direct != meaning) {
            fails.push(format!("oracle {oracle} but policy meaning {meaning}: {}", r.describe()));
        }
        let res = match submit(env, &mut ring, r, ud) {
            Ok(x) => x,
            Err(e) => {
                fails.push(format!("{}: {e}", r.describe()));
                continue;
            }
        };
        st.requests += 1;
        let kernel_denied = res == Some(-libc::EACCES);
        drain.after(!kernel_denied, in_flight);
        if res.is_none() {
            st.pending += 1;
            in_flight = true;
        }
        if env.verbose {
            println!(
                "#   {:<5} {:>6} {}",
                if oracle { "allow" } else { "deny" },
                res.map_or("(wait)".to_string(), |x| x.to_string()),
                r.describe()
            );
        }
        if kernel_denied && oracle {
            // The check cannot tell a filter's -EACCES from one the
            // request gets anyway: that is a failure of the test setup, and
            // the request is tried on an unfiltered ring to say which.
            let again = Ring::new(8).map_err(|e| e.to_string()).and_then(|mut r2| submit(env, &mut r2, r, ud));
            if again == Ok(Some(-libc::EACCES)) {
                fails.push(format!("-EACCES on an unfiltered ring too, the check cannot run: {}", r.describe()));
                continue;
            }
        }
        if kernel_denied == oracle {
            fails.push(format!(
                "kernel {} (res {}) but oracle {}: {} ctx {:?}",
                if kernel_denied { "denied" } else { "allowed" },
                res.map_or("pending".to_string(), |x| x.to_string()),
                if oracle { "allows" } else { "denies" },
                r.describe(),
                ctx
            ));
        }
        if case.stack.iter().any(|(p, _)| matches!(p.rules.get(&r.opcode()), Some(Rule::AllowIf(_)))) {
            if oracle {
                st.by_conditions.0 += 1;
            } else {
                st.by_conditions.1 += 1;
            }
        }
        if !oracle {
            denied += 1;
            if matches!(r.req, Req::Open { path: OpenPath::New, .. }) && exists_in_dir(env, env.next_new) {
                fails.push(format!("denied request created its file: {}", r.describe()));
            }
        }
    }
    st.denied += denied;
    println!("# {}: {} requests, {} denied by the oracle", case.name, case.reqs.len(), denied);
    if !fails.is_empty() {
        for (p, _) in &case.stack {
            fails.push(format!("policy: {p:?}"));
        }
    }
    fails
}

/// The checks of a RESTRICTED policy, in the child.
fn restricted_child(
    env: &mut Env,
    p: &Policy,
    filters: &[CompiledFilter],
    reqs: &[Request],
    st: &mut Stats,
) -> Vec<String> {
    let r = p.restrict.clone().unwrap_or_default();
    if let Err(e) = sys::set_no_new_privs() {
        return vec![format!("no_new_privs: {e}")];
    }
    let installed = sys::install(Level::Task, filters).and_then(|()| sys::register_task_restrictions(&r.entries()));
    if let Err(e) = installed {
        return vec![e.to_string()];
    }
    let mut ring = match Ring::new(8) {
        Ok(r) => r,
        Err(e) => return vec![format!("io_uring_setup: {e}")],
    };
    let mut set = iou_policy::compile::FilterSet::new();
    set.add_all(filters);
    let mut fails = Vec::new();
    let mut drain = Drain::default();
    let mut in_flight = false;
    for (i, q) in reqs.iter().enumerate() {
        let ud = 0x7a5c_0000 + i as u64;
        let ctx = drain.ctx(q, ud);
        let by_restrictions = r.allows_sqe(q.opcode(), q.sqe_flags);
        let allowed = by_restrictions && set.allows(&ctx);
        let res = match submit(env, &mut ring, q, ud) {
            Ok(x) => x,
            Err(e) => {
                fails.push(format!("{}: {e}", q.describe()));
                continue;
            }
        };
        st.requests += 1;
        st.denied += !allowed as usize;
        drain.after(res != Some(-libc::EACCES), in_flight);
        in_flight |= res.is_none();
        if (res == Some(-libc::EACCES)) == allowed {
            fails.push(format!(
                "res {:?} but restrictions {} and filters {}: {}",
                res,
                if by_restrictions { "allow" } else { "deny" },
                if set.allows(&ctx) { "allow" } else { "deny" },
                q.describe()
            ));
        }
    }
    // A register opcode outside a non-empty register_ops is -EACCES on the
    // ring; with no register_ops, register opcodes are not restricted.
    let allow_nop = [iou_policy::abi::SockFilter::new(0x06, 0, 0, 1)];
    let got = sys::register_filter(Level::Ring(ring.fd()), 0, 0, 0, &allow_nop).map_err(|e| e.errno);
    let want_ok = r.allows_register(iou_policy::abi::IORING_REGISTER_BPF_FILTER as u8);
    if got.is_ok() != want_ok || (!want_ok && got != Err(libc::EACCES)) {
        fails.push(format!(
            "ring-level IORING_REGISTER_BPF_FILTER: {got:?}, expected {}",
            if want_ok { "success" } else { "EACCES" }
        ));
    }
    // Classic restrictions are set once per task.
    match sys::register_task_restrictions(&r.entries()) {
        Err(e) if e.errno == libc::EPERM => {}
        other => fails.push(format!("second task restrictions: {other:?}, expected EPERM")),
    }
    fails
}

/// Run a RESTRICTED policy in a child process; its failures.
fn run_restricted(env: &mut Env, p: &Policy, filters: &[CompiledFilter], reqs: &[Request]) -> Vec<String> {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded; the child only runs the
    // checks and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return vec![format!("fork: {}", std::io::Error::last_os_error())];
    }
    if pid == 0 {
        let mut cst = Stats::default();
        let fails = restricted_child(env, p, filters, reqs, &mut cst);
        for f in &fails {
            println!("# {f}");
        }
        println!("# child: {} requests, {} denied", cst.requests, cst.denied);
        let _ = std::io::stdout().flush();
        // SAFETY: leave the child without running the parent's cleanup.
        unsafe { libc::_exit(fails.len().min(100) as i32) };
    }
    // The child used names the parent has not: skip past them.
    env.next_new += reqs.len() as u64;
    let mut status = 0;
    // SAFETY: waiting for our own child.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return vec![format!("waitpid: {}", std::io::Error::last_os_error())];
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Vec::new()
    } else {
        vec![format!("child failed (wait status {status:#x})"), format!("policy: {p:?}")]
    }
}

fn arg_num(v: Option<String>, what: &str) -> Result<u64, String> {
    let v = v.ok_or(format!("{what} needs a value"))?;
    let r = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => v.parse(),
    };
    r.map_err(|_| format!("{what}: bad number {v:?}"))
}

fn main() -> ExitCode {
    let mut seed = 0x6f72_6163_6c65u64;
    let (mut policies, mut stacks, mut nreq) = (32usize, 10usize, 10usize);
    let mut dir = std::env::temp_dir();
    let mut verbose = false;
    let mut baseline = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let r = match a.as_str() {
            "--seed" => arg_num(args.next(), "--seed").map(|v| seed = v),
            "--policies" => arg_num(args.next(), "--policies").map(|v| policies = v as usize),
            "--stacks" => arg_num(args.next(), "--stacks").map(|v| stacks = v as usize),
            "--requests" => arg_num(args.next(), "--requests").map(|v| nreq = v as usize),
            "--dir" => args.next().ok_or("--dir needs a value".to_string()).map(|d| dir = d.into()),
            "--baseline" => {
                baseline = true;
                Ok(())
            }
            "-v" | "--verbose" => {
                verbose = true;
                Ok(())
            }
            _ => Err(format!("unknown argument {a:?}")),
        };
        if let Err(e) = r {
            eprintln!(
                "iou-oracle-check: {e}\nusage: iou-oracle-check [--seed N] [--policies N] [--stacks N] [--requests N] [--dir DIR] [--baseline] [-v]"
            );
            return ExitCode::from(2);
        }
    }
    let start = Instant::now();
    println!("TAP version 13");

    // Does the kernel have ring filters at all?
    let probe = Ring::new(4).map_err(|e| format!("io_uring_setup: {e}")).and_then(|ring| {
        let allow = [iou_policy::abi::SockFilter::new(0x06, 0, 0, 1)];
        sys::register_filter(Level::Ring(ring.fd()), 0, 0, 0, &allow).map_err(|e| e.to_string())
    });
    if let (Err(e), false) = (probe, baseline) {
        println!("1..0 # SKIP no ring-level IORING_REGISTER_BPF_FILTER: {e}");
        return ExitCode::from(4);
    }

    let cases = match build_cases(seed, policies, stacks, nreq) {
        Ok(c) => c,
        Err(e) => {
            println!("1..1\nnot ok 1 build cases # {e}");
            return ExitCode::from(1);
        }
    };
    let work = dir.join(format!("iou-oracle-check-{}", std::process::id()));
    let setup = || -> std::io::Result<(i32, i32)> {
        std::fs::create_dir_all(&work)?;
        std::fs::write(work.join("existing"), b"hello\n")?;
        let d = CString::new(work.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: plain open(2) calls with NUL-terminated paths.
        let dirfd = unsafe { libc::open(d.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        let zero = unsafe { libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if dirfd < 0 || zero < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((dirfd, zero))
    };
    let (dirfd, zero) = match setup() {
        Ok(x) => x,
        Err(e) => {
            println!("1..1\nnot ok 1 set up {} # {e}", work.display());
            let _ = std::fs::remove_dir_all(&work);
            return ExitCode::from(1);
        }
    };
    let mut env = Env { dir: work.clone(), dirfd, zero, buf: Box::new([0; 16]), next_new: 0, verbose, baseline };
    println!(
        "# seed {seed:#x}: {} fixed, {policies} random policies, {stacks} random stacks at ring level; {} task-level with restrictions",
        FIXED.len(),
        RESTRICTED.len()
    );
    let restricted = if baseline { &[][..] } else { RESTRICTED };
    println!("1..{}", cases.len() + restricted.len());
    let mut st = Stats::default();
    let (mut pass, mut fail) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let fails = run_case(&mut env, case, &mut st);
        if fails.is_empty() {
            pass += 1;
            println!("ok {} {}", i + 1, case.name);
        } else {
            fail += 1;
            for f in &fails {
                println!("# {f}");
            }
            println!("not ok {} {}", i + 1, case.name);
        }
    }
    // Task-level filters with classic restrictions, in child processes.
    let mut rng = Rng::new(seed ^ 0x7a5c);
    for (j, (name, text)) in restricted.iter().enumerate() {
        let n = cases.len() + j + 1;
        let p = parse_policy(text).expect("RESTRICTED policies parse");
        let f = compile(&p).expect("RESTRICTED policies compile");
        let mut reqs = fixed_requests();
        reqs.extend(kcheck::gen_requests(&mut rng, &[&p], nreq));
        for q in reqs.iter_mut().step_by(3) {
            q.sqe_flags ^= 0x10;
        }
        let fails = run_restricted(&mut env, &p, &f, &reqs);
        println!("# {name}: {} requests", reqs.len());
        if fails.is_empty() {
            pass += 1;
            println!("ok {n} {name}");
        } else {
            fail += 1;
            for f in &fails {
                println!("# {f}");
            }
            println!("not ok {n} {name}");
        }
    }
    close(dirfd);
    close(zero);
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "# ring level: {} requests checked: {} denied, {} allowed, {} allowed CONNECT(s) still running after 1 s; {:.1} s in all",
        st.requests,
        st.denied,
        st.requests - st.denied,
        st.pending,
        start.elapsed().as_secs_f64()
    );
    println!(
        "# ring level: {} requests decided by allow_if conditions: {} allowed, {} denied",
        st.by_conditions.0 + st.by_conditions.1,
        st.by_conditions.0,
        st.by_conditions.1
    );
    println!("# Totals: pass:{pass} fail:{fail} xfail:0 xpass:0 skip:0 error:0");
    if fail == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
