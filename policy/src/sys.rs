//! Registration through raw io_uring_register(2).

use crate::abi::*;
use crate::compile::{self, CompileError, CompiledFilter};
use crate::opcodes;
use crate::policy::Policy;
use std::fmt;

/// Where a filter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// On one ring (fd of the ring).
    Ring(i32),
    /// On the calling task ("blind" registration, fd -1).
    Task,
}

impl Level {
    fn fd(self) -> i32 {
        match self {
            Level::Ring(fd) => fd,
            Level::Task => -1,
        }
    }
}

/// What was being registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    Filter { opcode: u8, pdu_size: u8, kernel_pdu_size: Option<u8> },
    Restrictions,
}

/// A failed registration, with the errno explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterError {
    pub errno: i32,
    pub level: Level,
    pub what: What,
}

impl RegisterError {
    /// An explanation of the errno for this registration.
    pub fn reason(&self) -> String {
        let task = self.level == Level::Task;
        match (self.errno, &self.what) {
            (libc::EACCES, _) if task => {
                "permission denied: task-level registration needs CAP_SYS_ADMIN or no_new_privs".into()
            }
            (libc::EACCES, _) => "permission denied: the ring's restrictions forbid this register opcode".into(),
            (libc::EINVAL, What::Filter { .. }) => "invalid argument: the kernel rejected the filter \
                (bad opcode, flags or program), or it has no IORING_REGISTER_BPF_FILTER support"
                .into(),
            (libc::EINVAL, What::Restrictions) => "invalid argument: bad restriction entry, or the kernel \
                has no task-level IORING_REGISTER_RESTRICTIONS support"
                .into(),
            (libc::EMSGSIZE, What::Filter { pdu_size, kernel_pdu_size, .. }) => match kernel_pdu_size {
                Some(k) => {
                    format!("opcode data size mismatch: the filter expects {pdu_size} bytes, the kernel provides {k}")
                }
                None => format!("opcode data size mismatch: the filter expects {pdu_size} bytes"),
            },
            (libc::EPERM, What::Restrictions) => {
                "operation not permitted: this task already has classic restrictions (they can be set once)".into()
            }
            (libc::EBUSY, _) => "device busy: the ring already has restrictions".into(),
            (libc::EFAULT, _) => "bad address passed to the kernel".into(),
            (libc::ENOMEM, _) => "out of memory (or over the memory cgroup limit)".into(),
            (libc::EBADF, _) => "bad file descriptor: not an io_uring ring".into(),
            (libc::ENOSYS, _) => "io_uring is not available on this kernel".into(),
            (e, _) => std::io::Error::from_raw_os_error(e).to_string(),
        }
    }
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ring(fd) => format!("ring fd {fd}"),
            Level::Task => "task".to_string(),
        };
        match &self.what {
            What::Filter { opcode, .. } => write!(
                f,
                "registering the {level} filter for IORING_OP_{}: {}",
                opcodes::opcode_name(*opcode).unwrap_or("?").to_ascii_uppercase(),
                self.reason()
            ),
            What::Restrictions => write!(f, "registering {level} restrictions: {}", self.reason()),
        }
    }
}

impl std::error::Error for RegisterError {}

fn io_uring_register(fd: i32, opcode: u32, arg: *mut libc::c_void, nr_args: u32) -> Result<i64, i32> {
    // SAFETY: the argument points to a live, correctly laid out structure
    // (or buffer) of the size the kernel reads for this opcode, or (from
    // `register_bpf_raw`) to memory that is not mapped, which the kernel's
    // copy reports as -EFAULT without touching anything.
    let r = unsafe { libc::syscall(libc::SYS_io_uring_register, fd, opcode, arg, nr_args) };
    if r < 0 { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL)) } else { Ok(r) }
}

/// Register one filter. Returns the kernel's data size for the opcode (the
/// value it writes back into `pdu_size`).
pub fn register_filter(
    level: Level,
    opcode: u8,
    flags: u32,
    pdu_size: u8,
    prog: &[SockFilter],
) -> Result<u8, RegisterError> {
    let mut arg = IoUringBpf {
        cmd_type: IO_URING_BPF_CMD_FILTER,
        filter: IoUringBpfFilter {
            opcode: opcode as u32,
            flags,
            filter_len: prog.len() as u32,
            pdu_size,
            filter_ptr: prog.as_ptr() as u64,
            ..Default::default()
        },
        ..Default::default()
    };
    let r = io_uring_register(level.fd(), IORING_REGISTER_BPF_FILTER, (&mut arg as *mut IoUringBpf).cast(), 1);
    let written = arg.filter.pdu_size;
    match r {
        Ok(_) => Ok(written),
        Err(errno) => Err(RegisterError {
            errno,
            level,
            what: What::Filter { opcode, pdu_size, kernel_pdu_size: (written != pdu_size).then_some(written) },
        }),
    }
}

/// One `IORING_REGISTER_BPF_FILTER` call with `arg` exactly as the caller
/// filled it (reserved fields, any opcode, flags and `nr_args`: the guest
/// fuzzer's raw registration). The kernel may write `arg.filter.pdu_size`.
/// Returns the errno on failure.
///
/// # Safety
///
/// `arg` points to a `struct io_uring_bpf` valid for reads and writes, or
/// to memory that is not mapped at all (the kernel's copy then faults:
/// -EFAULT). The kernel only reads through `filter_ptr`, with a copy that
/// fails cleanly on memory that is not mapped.
pub unsafe fn register_bpf_raw(level: Level, arg: *mut IoUringBpf, nr_args: u32) -> Result<(), i32> {
    io_uring_register(level.fd(), IORING_REGISTER_BPF_FILTER, arg.cast(), nr_args).map(|_| ())
}

/// Register compiled filters in order. Stops at the first failure (filters
/// before it stay installed: registration cannot be undone).
pub fn install(level: Level, filters: &[CompiledFilter]) -> Result<(), RegisterError> {
    for f in filters {
        register_filter(level, f.opcode, f.flags, f.pdu_size, &f.program.insns)?;
    }
    Ok(())
}

/// Classic task-level restrictions (`Documentation/userspace-api/io_uring_bpf_filter.rst`,
/// "Restricting a task and its children"), registered with fd -1.
pub fn register_task_restrictions(res: &[IoUringRestriction]) -> Result<(), RegisterError> {
    let err = |errno| RegisterError { errno, level: Level::Task, what: What::Restrictions };
    let nr = u16::try_from(res.len()).map_err(|_| err(libc::EINVAL))?;
    // Header + entries in one 4-byte aligned buffer.
    let words = (std::mem::size_of::<IoUringTaskRestriction>() + std::mem::size_of_val(res)) / 4;
    let mut buf = vec![0u32; words];
    let hdr = IoUringTaskRestriction { flags: 0, nr_res: nr, resv: [0; 3] };
    // SAFETY: buf is 4-byte aligned and large enough for the header and all
    // entries; both types are plain old data with alignment 4 or less.
    unsafe {
        let p = buf.as_mut_ptr().cast::<u8>();
        std::ptr::write_unaligned(p.cast::<IoUringTaskRestriction>(), hdr);
        let entries = p.add(std::mem::size_of::<IoUringTaskRestriction>()).cast::<IoUringRestriction>();
        for (i, r) in res.iter().enumerate() {
            std::ptr::write_unaligned(entries.add(i), *r);
        }
    }
    io_uring_register(-1, IORING_REGISTER_RESTRICTIONS, buf.as_mut_ptr().cast(), 1).map_err(err)?;
    Ok(())
}

/// What the running kernel offers, found by [`probe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    /// The kernel's `IORING_OP_LAST`: filters (and requests) exist for
    /// opcodes below it.
    pub op_last: u32,
    /// False when the count could not be probed (an outer sandbox forbids
    /// filter registration on new rings) and `op_last` is the tool's own
    /// [`opcodes::IORING_OP_LAST`].
    pub probed: bool,
}

/// Why the kernel cannot filter io_uring requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// io_uring_setup(2) failed with this errno (io_uring missing, disabled
    /// by the `kernel.io_uring_disabled` sysctl, or forbidden by seccomp).
    NoIoUring(i32),
    /// io_uring works but IORING_REGISTER_BPF_FILTER does not exist.
    NoBpfFilter,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "this kernel has no io_uring BPF filtering")?;
        match self {
            ProbeError::NoIoUring(e) => {
                write!(f, " (io_uring_setup: {})", std::io::Error::from_raw_os_error(*e))
            }
            ProbeError::NoBpfFilter => {
                write!(f, " (IORING_REGISTER_BPF_FILTER is unknown: needs Linux 7.0 or this series)")
            }
        }
    }
}

impl std::error::Error for ProbeError {}

/// A ring of one entry, closed on drop, for probing.
struct ProbeRing(i32);

impl ProbeRing {
    fn new() -> Result<ProbeRing, i32> {
        // `struct io_uring_params` is 120 bytes; all zero asks for defaults.
        let mut params = [0u32; 30];
        // SAFETY: params is a zeroed io_uring_params the kernel reads and
        // writes back, and lives across the call.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOSYS));
        }
        Ok(ProbeRing(fd as i32))
    }
}

impl Drop for ProbeRing {
    fn drop(&mut self) {
        // SAFETY: the ring fd this guard owns, closed once.
        unsafe { libc::close(self.0) };
    }
}

/// Find out, without changing the calling task, whether the kernel filters
/// io_uring requests and for how many opcodes: on a throwaway ring,
/// register an allow-all filter for IORING_OP_NOP (EINVAL: no
/// IORING_REGISTER_BPF_FILTER), then binary-search the first opcode a
/// filter cannot be registered for (EINVAL: not below IORING_OP_LAST; any
/// other answer means the opcode passed that check).
pub fn probe() -> Result<Support, ProbeError> {
    let ring = ProbeRing::new().map_err(ProbeError::NoIoUring)?;
    let allow = [SockFilter::new(0x06, 0, 0, 1)];
    let known = |op: u32| match register_filter32(Level::Ring(ring.0), op, &allow) {
        Ok(()) => Ok(true),
        Err(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    };
    match known(0) {
        Ok(true) => {}
        Ok(false) => return Err(ProbeError::NoBpfFilter),
        // Forbidden on this ring (an outer sandbox's register_ops, say):
        // the support is there, its extent unknown.
        Err(_) => return Ok(Support { op_last: opcodes::IORING_OP_LAST, probed: false }),
    }
    let (mut lo, mut hi) = (1u32, 256u32);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if known(mid).unwrap_or(true) { lo = mid + 1 } else { hi = mid }
    }
    Ok(Support { op_last: lo, probed: true })
}

/// Register an allow-all style probe filter for a 32-bit opcode value.
fn register_filter32(level: Level, opcode: u32, prog: &[SockFilter]) -> Result<(), i32> {
    let mut arg = IoUringBpf {
        cmd_type: IO_URING_BPF_CMD_FILTER,
        filter: IoUringBpfFilter {
            opcode,
            filter_len: prog.len() as u32,
            filter_ptr: prog.as_ptr() as u64,
            ..Default::default()
        },
        ..Default::default()
    };
    io_uring_register(level.fd(), IORING_REGISTER_BPF_FILTER, (&mut arg as *mut IoUringBpf).cast(), 1).map(|_| ())
}

/// Why [`install_policy`] did not install a policy (or, for
/// [`InstallError::Register`], all of it).
#[derive(Debug)]
pub enum InstallError {
    /// The kernel cannot filter io_uring requests: nothing was installed.
    NoSupport(ProbeError),
    /// Rules for opcodes at or past the running kernel's `IORING_OP_LAST`:
    /// nothing was installed.
    UnknownOpcodes { opcodes: Vec<u8>, op_last: u32 },
    /// The policy does not compile: nothing was installed.
    Compile(CompileError),
    /// `PR_SET_NO_NEW_PRIVS` failed: nothing was installed.
    NoNewPrivs(std::io::Error),
    /// A registration failed; what was registered before it stays.
    Register(RegisterError),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::NoSupport(e) => write!(f, "{e}"),
            InstallError::UnknownOpcodes { opcodes: ops, op_last } => {
                let names: Vec<String> = ops.iter().map(|&op| opcodes::opcode_label(op)).collect();
                write!(f, "this kernel does not know {} (it has opcodes 0..{} only)", names.join(", "), op_last - 1)
            }
            InstallError::Compile(e) => write!(f, "{e}"),
            InstallError::NoNewPrivs(e) => write!(f, "prctl(PR_SET_NO_NEW_PRIVS): {e}"),
            InstallError::Register(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::NoSupport(e) => Some(e),
            InstallError::UnknownOpcodes { .. } => None,
            InstallError::Compile(e) => Some(e),
            InstallError::NoNewPrivs(e) => Some(e),
            InstallError::Register(e) => Some(e),
        }
    }
}

/// Install a policy on the calling thread, as `iou-sandbox --policy` does
/// before it execs its command: probe the kernel ([`probe`]), refuse rules
/// for opcodes it does not know, compile with
/// [`compile::compile_task`] for its opcode count, set no_new_privs,
/// register the classic task restrictions of `[restrict]` if any (first:
/// Linux 7.x refuses them to a task that already has filters), then the
/// filters at task level. Every ring the thread, and the processes it
/// forks or execs from then on, create is filtered. Returns what the probe
/// found.
///
/// When the opcode count could not be probed (an outer sandbox forbids
/// filter registration on new rings), the deny filters assume Linux 7.0's
/// opcodes: the first one past Linux 6.12's that the kernel refuses as
/// unknown (EINVAL) ends them, as the kernel knows none after it, and
/// DENY_REST is already in place.
pub fn install_policy(policy: &Policy) -> Result<Support, InstallError> {
    let support = probe().map_err(InstallError::NoSupport)?;
    let unknown: Vec<u8> = policy.rules.keys().copied().filter(|&op| op as u32 >= support.op_last).collect();
    if !unknown.is_empty() {
        return Err(InstallError::UnknownOpcodes { opcodes: unknown, op_last: support.op_last });
    }
    let filters = compile::compile_task(policy, support.op_last).map_err(InstallError::Compile)?;
    set_no_new_privs().map_err(InstallError::NoNewPrivs)?;
    // Task-level filter registration is not a ring's register opcode, so
    // the restrictions do not stand in its way.
    if let Some(r) = &policy.restrict {
        register_task_restrictions(&r.entries()).map_err(InstallError::Register)?;
    }
    for f in &filters {
        match register_filter(Level::Task, f.opcode, f.flags, f.pdu_size, &f.program.insns) {
            Ok(_) => {}
            Err(e)
                if !support.probed
                    && e.errno == libc::EINVAL
                    && !policy.rules.contains_key(&f.opcode)
                    && f.opcode as u32 >= opcodes::IORING_OP_LAST_6_12 =>
            {
                break;
            }
            Err(e) => return Err(InstallError::Register(e)),
        }
    }
    Ok(support)
}

/// Set no_new_privs on the calling thread (as seccomp requires).
pub fn set_no_new_privs() -> std::io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_NO_NEW_PRIVS,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eacces_message_at_task_level() {
        let e = RegisterError {
            errno: libc::EACCES,
            level: Level::Task,
            what: What::Filter { opcode: 16, pdu_size: 24, kernel_pdu_size: None },
        };
        let s = e.to_string();
        assert!(s.contains("needs CAP_SYS_ADMIN or no_new_privs"), "{s}");
        assert!(s.contains("IORING_OP_CONNECT"), "{s}");
    }

    #[test]
    fn emsgsize_names_both_sizes() {
        let e = RegisterError {
            errno: libc::EMSGSIZE,
            level: Level::Ring(3),
            what: What::Filter { opcode: 45, pdu_size: 12, kernel_pdu_size: Some(8) },
        };
        let s = e.to_string();
        assert!(s.contains("expects 12") && s.contains("provides 8"), "{s}");
    }

    #[test]
    fn eperm_restrictions() {
        let e = RegisterError { errno: libc::EPERM, level: Level::Task, what: What::Restrictions };
        assert!(e.to_string().contains("already has classic restrictions"));
    }

    /// On any kernel: the probe either finds no support, or finds at least
    /// the opcodes of Linux 6.12, and leaves the calling task unfiltered.
    #[test]
    fn probe_is_consistent() {
        match probe() {
            Ok(s) => {
                assert!(s.op_last >= opcodes::IORING_OP_LAST_6_12 && s.op_last <= 256, "{s:?}");
            }
            Err(e) => assert!(e.to_string().starts_with("this kernel has no io_uring BPF filtering"), "{e}"),
        }
        // Probing twice gives the same answer (the throwaway rings' filters
        // do not accumulate anywhere).
        assert_eq!(probe(), probe());
    }

    /// On any kernel: a ring-level registration on a non-ring fd fails
    /// cleanly (EBADF/EOPNOTSUPP/EINVAL), never crashes.
    #[test]
    fn bad_fd_fails_cleanly() {
        let prog = [SockFilter::new(0x06, 0, 0, 1)];
        let r = register_filter(Level::Ring(0), 22, 0, 0, &prog);
        let errno = r.map(|_| ()).unwrap_err().errno;
        assert!([libc::EBADF, libc::EOPNOTSUPP, libc::EINVAL].contains(&errno), "errno {errno}");
    }
}
