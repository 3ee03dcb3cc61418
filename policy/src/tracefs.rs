//! tracefs: a trace instance of our own, its `trace_pipe`, and the two
//! runners on them, [`record`] (the io_uring requests of a command's
//! process tree) and [`DenyWatch`] (filter denials, live).
//!
//! Each runner works in instances of its own under
//! `/sys/kernel/tracing/instances/`, named `iou-sandbox-*`, removed when
//! it is done, on errors and, once [`SignalGuard`] is installed, on
//! SIGINT, SIGTERM and SIGHUP (a SIGKILL leaves them behind: `rmdir`
//! them). Tracing needs root (CAP_SYS_ADMIN, or the tracefs permissions
//! an administrator gave). The parsing and counting are pure, in
//! [`crate::trace`] and [`crate::record`].

use crate::record::{Recording, Source};
use crate::trace::{self, FilterDeny, Line, ParseError};
use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where tracefs is mounted.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// What went wrong with tracing, or with the command [`record`] runs.
#[derive(Debug)]
pub enum TraceFsError {
    /// tracefs is not mounted, and this process is not root to mount it.
    NotMounted,
    /// A tracefs (or process) operation failed.
    Io { what: String, err: io::Error },
    /// The kernel has no such tracepoint.
    NoEvent(&'static str),
    /// The command could not be executed (nothing ran).
    Exec { cmd: String, err: io::Error },
    /// `--pid`: there is no such process.
    NoProcess(i32),
}

impl fmt::Display for TraceFsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceFsError::NotMounted => write!(
                f,
                "tracefs is not mounted at {TRACEFS}; as root this tool mounts it, or mount it yourself: \
                 mount -t tracefs nodev {TRACEFS}"
            ),
            TraceFsError::Io { what, err } => {
                write!(f, "{what}: {err}")?;
                if matches!(err.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) {
                    write!(f, " (tracing needs root)")?;
                }
                Ok(())
            }
            TraceFsError::NoEvent(e) => {
                write!(
                    f,
                    "this kernel has no {}:{e} tracepoint (no events/{}/{e} in tracefs)",
                    trace::SYSTEM,
                    trace::SYSTEM
                )
            }
            TraceFsError::Exec { cmd, err } => write!(f, "cannot run {cmd}: {err}"),
            TraceFsError::NoProcess(pid) => write!(f, "no process {pid}"),
        }
    }
}

impl std::error::Error for TraceFsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TraceFsError::Io { err, .. } | TraceFsError::Exec { err, .. } => Some(err),
            _ => None,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> TraceFsError {
    let what = what.into();
    move |err| TraceFsError::Io { what, err }
}

/// Mount tracefs if it is not mounted (root only).
fn mount_tracefs() -> Result<(), TraceFsError> {
    if Path::new(TRACEFS).join("instances").is_dir() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(TraceFsError::NotMounted);
    }
    let target = CString::new(TRACEFS).expect("no NUL");
    // SAFETY: NUL-terminated strings that live across the call; no data.
    let r = unsafe { libc::mount(c"nodev".as_ptr(), target.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        return Err(io_err(format!("mount -t tracefs nodev {TRACEFS}"))(io::Error::last_os_error()));
    }
    Ok(())
}

/// A trace instance of our own (`instances/iou-sandbox-PURPOSE-PID-N`),
/// removed on drop. New instances trace nothing until an event is enabled.
pub struct Instance {
    dir: PathBuf,
}

impl Instance {
    /// Create one, mounting tracefs first if needed (as root).
    pub fn create(purpose: &str) -> Result<Instance, TraceFsError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        mount_tracefs()?;
        let base = Path::new(TRACEFS).join("instances");
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("iou-sandbox-{purpose}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => break Ok(Instance { dir }),
                // Left by a killed process of the same pid.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => continue,
                Err(e) => break Err(io_err(format!("mkdir {}", dir.display()))(e)),
            }
        }
    }

    /// The instance's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Write `value` to one of the instance's files (`tracing_on`,
    /// `options/event-fork`, ...), replacing what it held.
    pub fn write(&self, file: &str, value: &str) -> Result<(), TraceFsError> {
        let path = self.dir.join(file);
        let what = || format!("writing {value:?} to {}", path.display());
        let mut f = OpenOptions::new().write(true).truncate(true).open(&path).map_err(|e| io_err(what())(e))?;
        f.write_all(value.as_bytes()).map_err(|e| io_err(what())(e))
    }

    fn event_file(&self, event: &'static str, file: &str, value: &str) -> Result<(), TraceFsError> {
        let dir = format!("events/{}/{event}", trace::SYSTEM);
        if !self.dir.join(&dir).is_dir() {
            return Err(TraceFsError::NoEvent(event));
        }
        self.write(&format!("{dir}/{file}"), value)
    }

    /// Enable an io_uring event ([`trace::SUBMIT_REQ`], ...).
    pub fn enable(&self, event: &'static str) -> Result<(), TraceFsError> {
        self.event_file(event, "enable", "1")
    }

    /// Set an io_uring event's filter (`sq_thread == 1`).
    pub fn filter(&self, event: &'static str, expr: &str) -> Result<(), TraceFsError> {
        self.event_file(event, "filter", expr)
    }

    /// Trace only `pid` and, with `options/event-fork`, what it forks from
    /// now on.
    pub fn follow(&self, pid: i32) -> Result<(), TraceFsError> {
        self.write("options/event-fork", "1")?;
        self.write("set_event_pid", &pid.to_string())
    }

    /// The lines the instance's events print, in the format
    /// [`trace::parse_line`] reads, whatever options the instance
    /// inherited from the top-level trace.
    fn plain_output(&self) {
        for opt in ["raw", "hex", "bin", "latency-format", "verbose"] {
            let _ = self.write(&format!("options/{opt}"), "0");
        }
    }

    /// Open `trace_pipe`, which consumes what it reads. The pipe borrows
    /// the instance: an instance with an open file cannot be removed.
    pub fn pipe(&self) -> Result<Pipe<'_>, TraceFsError> {
        let path = self.dir.join("trace_pipe");
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        Ok(Pipe { file, partial: Vec::new(), _instance: PhantomData })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.write("tracing_on", "0");
        // The kernel refuses (EBUSY) while a file of the instance is open,
        // which a reader that just closed its pipe may still hold briefly.
        for _ in 0..50 {
            match std::fs::remove_dir(&self.dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(10)),
                _ => return,
            }
        }
    }
}

/// An instance's `trace_pipe`, read without blocking.
pub struct Pipe<'a> {
    file: File,
    /// A line read in part.
    partial: Vec<u8>,
    _instance: PhantomData<&'a Instance>,
}

impl Pipe<'_> {
    /// Wait up to `timeout` until one of `pipes` has something to read (or
    /// a signal arrives).
    pub fn wait_any(pipes: &[&Pipe<'_>], timeout: Duration) -> io::Result<()> {
        let mut fds: Vec<libc::pollfd> =
            pipes.iter().map(|p| libc::pollfd { fd: p.file.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: fds is a live array of fds.len() pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Read what there is, passing each complete line to `f`; returns how
    /// many there were.
    pub fn read_lines(&mut self, f: &mut dyn FnMut(&str)) -> io::Result<usize> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut lines = 0;
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.partial.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(i) = self.partial[start..].iter().position(|&b| b == b'\n') {
                f(&String::from_utf8_lossy(&self.partial[start..start + i]));
                lines += 1;
                start += i + 1;
            }
            self.partial.drain(..start);
        }
        Ok(lines)
    }
}

/// The last of SIGINT, SIGTERM, SIGHUP caught while a [`SignalGuard`]
/// lived, 0 for none.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    CAUGHT.store(sig, Ordering::SeqCst);
}

/// The signals that end [`DenyWatch::run`] and that [`record`] passes on.
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// While it lives, SIGINT, SIGTERM and SIGHUP do not kill the process but
/// are noted, so that the runners can stop and remove their instances:
/// [`DenyWatch::run`] returns, [`record`] passes SIGTERM and SIGHUP on to
/// its command (SIGINT from a terminal reaches the command itself) and
/// waits for it. Dropping it restores what they did before.
pub struct SignalGuard {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl SignalGuard {
    pub fn install() -> io::Result<SignalGuard> {
        let mut guard = SignalGuard { old: Vec::new() };
        for sig in SIGNALS {
            // SAFETY: sigaction structs are plain data, zero is a valid
            // value; the handler only stores to an atomic, which is
            // async-signal-safe. No SA_RESTART: poll returns EINTR.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut sa.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &sa, &mut old) != 0 {
                    return Err(io::Error::last_os_error());
                }
                guard.old.push((sig, old));
            }
        }
        Ok(guard)
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, old) in &self.old {
            // SAFETY: restoring the disposition sigaction gave back.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
    }
}

/// The signal caught since the last call, if any.
fn take_signal() -> Option<i32> {
    match CAUGHT.swap(0, Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// `cmd` found as execvp would: a name with a `/` as it is, another in
/// `$PATH`.
fn resolve(cmd: &OsStr) -> io::Result<PathBuf> {
    if cmd.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(cmd));
    }
    if cmd.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        let p = dir.join(cmd);
        let Ok(c) = CString::new(p.as_os_str().as_bytes()) else { continue };
        // SAFETY: a NUL-terminated path.
        if p.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
            return Ok(p);
        }
    }
    Err(io::Error::from_raw_os_error(libc::ENOENT))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: two fresh fds this function owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A child process forked to run a command, waiting, before its exec,
/// until [`Stopped::release`]: its pid can be traced before it runs.
/// Dropped unreleased, it exits (127) without running the command.
pub struct Stopped {
    pid: i32,
    /// The child execs once a byte arrives; it exits at EOF.
    go: Option<OwnedFd>,
    /// Errno of a failed exec; EOF when the exec succeeded.
    exec_err: Option<OwnedFd>,
    cmd: String,
}

/// Fork a child that will run `cmd` (found in `$PATH` as execvp would)
/// once released. The child only reads a pipe and execs; it inherits the
/// environment and file descriptors (but those marked close-on-exec).
pub fn spawn_stopped<S: AsRef<OsStr>>(cmd: &[S]) -> Result<Stopped, TraceFsError> {
    let shown = crate::record::shell_words(&cmd[..cmd.len().min(1)]);
    let exec_err = |err| TraceFsError::Exec { cmd: shown.clone(), err };
    let first = cmd.first().ok_or_else(|| exec_err(io::Error::from_raw_os_error(libc::ENOENT)))?;
    let path = resolve(first.as_ref()).map_err(exec_err)?;
    let nul = || exec_err(io::Error::from_raw_os_error(libc::EINVAL));
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| nul())?;
    let args: Vec<CString> =
        cmd.iter().map(|a| CString::new(a.as_ref().as_bytes())).collect::<Result<_, _>>().map_err(|_| nul())?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let (go_r, go_w) = pipe().map_err(io_err("pipe"))?;
    let (err_r, err_w) = pipe().map_err(io_err("pipe"))?;
    let _ = io::stdout().flush();
    // SAFETY: the child below makes only async-signal-safe calls (close,
    // signal, read, execv, write, _exit) on memory prepared before the
    // fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io_err("fork")(io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: in the child: fds it owns, argv a NULL-terminated array
        // of NUL-terminated strings alive in this copy of the memory.
        unsafe {
            // The parent's end: the child sees EOF once the parent closes
            // its own.
            libc::close(go_w.as_raw_fd());
            // The Rust runtime ignores SIGPIPE, which exec would keep.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let mut b = 0u8;
            loop {
                let r = libc::read(go_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
                if r == 1 {
                    break;
                }
                if r < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                libc::_exit(127);
            }
            libc::execv(path.as_ptr(), argv.as_ptr());
            let errno = *libc::__errno_location();
            libc::write(err_w.as_raw_fd(), (&errno as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    drop((go_r, err_w));
    Ok(Stopped { pid, go: Some(go_w), exec_err: Some(err_r), cmd: shown })
}

impl Stopped {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Let the child exec its command. An error if the exec failed (the
    /// child is then reaped).
    pub fn release(mut self) -> Result<Running, TraceFsError> {
        let go = self.go.take().expect("released once");
        let mut go = File::from(go);
        let sent = go.write_all(b"x");
        drop(go);
        let mut errno = [0u8; 4];
        let mut got = 0;
        let mut err = File::from(self.exec_err.take().expect("released once"));
        while got < 4 {
            match err.read(&mut errno[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("reading the exec status")(e)),
            }
        }
        let running = Running { pid: self.pid, reaped: false };
        if got == 4 {
            let mut r = running;
            let _ = r.wait(None);
            return Err(TraceFsError::Exec {
                cmd: self.cmd.clone(),
                err: io::Error::from_raw_os_error(i32::from_ne_bytes(errno)),
            });
        }
        sent.map_err(io_err("starting the command"))?;
        Ok(running)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if self.go.take().is_some() {
            // The child saw EOF and exits: reap it.
            let mut r = Running { pid: self.pid, reaped: false };
            let _ = r.wait(None);
        }
    }
}

/// A child process running its command.
pub struct Running {
    pid: i32,
    reaped: bool,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Its wait status once it has exited, `None` if it is still running.
    pub fn try_wait(&mut self) -> io::Result<Option<i32>> {
        if self.reaped {
            return Err(io::Error::other("already reaped"));
        }
        let mut status = 0;
        // SAFETY: waiting for our own child, status a valid int.
        match unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } {
            0 => Ok(None),
            r if r == self.pid => {
                self.reaped = true;
                Ok(Some(status))
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted { Ok(None) } else { Err(e) }
            }
        }
    }

    /// Wait until it exits, or until `deadline`: then kill it (SIGKILL),
    /// reap it and return `Ok(None)`.
    pub fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Option<i32>> {
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.kill(libc::SIGKILL);
                while self.try_wait()?.is_none() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Send it a signal.
    pub fn kill(&self, sig: i32) {
        if !self.reaped {
            // SAFETY: plain kill(2) of our own unreaped child.
            unsafe { libc::kill(self.pid, sig) };
        }
    }
}

/// A wait status as a shell gives it: the exit code, or 128 + the signal.
pub fn exit_code(status: i32) -> u8 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else if libc::WIFSIGNALED(status) {
        (128 + libc::WTERMSIG(status)) as u8
    } else {
        1
    }
}

/// How [`record`] runs.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// The trace buffer per CPU, in KiB (`buffer_size_kb`). The buffer is
    /// read while the command runs; it only needs to hold what arrives
    /// between two reads.
    pub buffer_kb: u32,
    /// Kill the command (SIGKILL) if it runs longer.
    pub timeout: Option<Duration>,
}

impl Default for RecordOptions {
    fn default() -> RecordOptions {
        RecordOptions { buffer_kb: 4096, timeout: None }
    }
}

/// What [`record`] saw.
#[derive(Debug)]
pub struct Recorded {
    pub recording: Recording,
    /// The command's wait status; `None` if it was killed at the timeout.
    pub status: Option<i32>,
    /// Why SQPOLL rings' requests could not be recorded, if they could
    /// not.
    pub sqpoll: Result<(), TraceFsError>,
}

/// The SQ threads' instance: every SQ thread's submissions.
fn sq_instance(buffer_kb: u32) -> Result<Instance, TraceFsError> {
    let i = Instance::create("record-sq")?;
    i.plain_output();
    i.write("buffer_size_kb", &buffer_kb.to_string())?;
    i.filter(trace::SUBMIT_REQ, "sq_thread == 1")?;
    i.enable(trace::SUBMIT_REQ)?;
    Ok(i)
}

/// Run `cmd` with `io_uring_submit_req` traced for its process tree only
/// and count its requests per opcode ([`Recording`]).
///
/// The command is forked stopped; its pid is set as the instance's
/// `set_event_pid`, with `options/event-fork` so that what it forks and
/// the threads it clones are traced too, and the events are enabled
/// before it execs, so no request is missed. `trace_pipe` is read while it
/// runs; the recording ends when it exits (descendants still running then
/// are not followed further). An SQPOLL ring's requests, which its SQ
/// thread submits, come from a second instance (see [`crate::record`]).
///
/// Only requests that pass init and prep are traced: a request the kernel
/// rejects before (an unknown opcode, bad fields, a filter already
/// installed) is not seen.
///
/// Forks: call it while the process is single-threaded or mind what a
/// forked child may do (the child here only reads a pipe and execs).
pub fn record<S: AsRef<OsStr>>(cmd: &[S], opts: &RecordOptions) -> Result<Recorded, TraceFsError> {
    let tree = Instance::create("record")?;
    tree.plain_output();
    tree.write("buffer_size_kb", &opts.buffer_kb.to_string())?;
    let sq = sq_instance(opts.buffer_kb.clamp(64, 1024));
    let child = spawn_stopped(cmd)?;
    tree.follow(child.pid())?;
    tree.enable(trace::CREATE)?;
    tree.enable(trace::SUBMIT_REQ)?;
    let mut tree_pipe = tree.pipe()?;
    let mut sq_pipe = match &sq {
        Ok(i) => Some(i.pipe()?),
        Err(_) => None,
    };
    let mut child = child.release()?;
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut recording = Recording::new();
    let mut read = |tree_pipe: &mut Pipe<'_>, sq_pipe: &mut Option<Pipe<'_>>| -> Result<(), TraceFsError> {
        tree_pipe.read_lines(&mut |l| recording.add(Source::Tree, l)).map_err(io_err("reading trace_pipe"))?;
        if let Some(p) = sq_pipe {
            p.read_lines(&mut |l| recording.add(Source::SqThreads, l)).map_err(io_err("reading trace_pipe"))?;
        }
        Ok(())
    };
    let mut step = || -> Result<Option<Option<i32>>, TraceFsError> {
        if let Some(sig) = take_signal()
            && sig != libc::SIGINT
        {
            child.kill(sig);
        }
        read(&mut tree_pipe, &mut sq_pipe)?;
        if let Some(s) = child.try_wait().map_err(io_err("waitpid"))? {
            return Ok(Some(Some(s)));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Some(child.wait(Some(Instant::now())).map_err(io_err("waitpid"))?));
        }
        let pipes: Vec<&Pipe<'_>> = std::iter::once(&tree_pipe).chain(sq_pipe.as_ref()).collect();
        Pipe::wait_any(&pipes, Duration::from_millis(100)).map_err(io_err("poll"))?;
        Ok(None)
    };
    let status = loop {
        match step() {
            Ok(None) => {}
            Ok(Some(status)) => break status,
            // Tracing broke: the command is waited for (to the timeout),
            // not left behind.
            Err(e) => {
                let _ = child.wait(deadline);
                return Err(e);
            }
        }
    };
    // Every request of the command was traced at its submission: what is
    // left is in the buffers.
    let _ = tree.write("tracing_on", "0");
    if let Ok(i) = &sq {
        let _ = i.write("tracing_on", "0");
    }
    read(&mut tree_pipe, &mut sq_pipe)?;
    drop((tree_pipe, sq_pipe));
    Ok(Recorded { recording, status, sqpoll: sq.map(|_| ()) })
}

/// What [`DenyWatch::run`] passes on.
#[derive(Debug)]
pub enum Watched<'a> {
    /// A denial.
    Deny { line: Line<'a>, deny: FilterDeny },
    /// The kernel lost events (how many, if it could count them).
    Lost(Option<u64>),
    /// A deny line that did not parse.
    Unparsed { line: &'a str, err: ParseError },
}

/// Why [`DenyWatch::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEnd {
    /// The count of denials was reached.
    Count,
    /// The deadline passed.
    Deadline,
    /// A signal arrived (with a [`SignalGuard`] installed).
    Signal(i32),
    /// The callback asked to stop.
    Stopped,
}

/// The `io_uring_bpf_filter_deny` tracepoint, enabled in an instance of
/// its own: every denial from [`DenyWatch::start`] on is kept in its
/// buffer until [`DenyWatch::run`] reads it.
pub struct DenyWatch {
    instance: Instance,
}

impl DenyWatch {
    /// Start watching denials: of every task, or with `pid` of that process
    /// and what it forks from now on (`set_event_pid` with `event-fork`).
    /// An SQPOLL ring's requests are denied in its SQ thread, which
    /// `event-fork` does not follow: with `pid`, those are not seen.
    pub fn start(pid: Option<i32>) -> Result<DenyWatch, TraceFsError> {
        if let Some(p) = pid
            && (p <= 0 || !Path::new(&format!("/proc/{p}")).exists())
        {
            return Err(TraceFsError::NoProcess(p));
        }
        let instance = Instance::create("watch")?;
        instance.plain_output();
        if let Some(p) = pid {
            instance.follow(p)?;
        }
        instance.enable(trace::FILTER_DENY)?;
        Ok(DenyWatch { instance })
    }

    /// The instance (its directory, for messages).
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Pass each denial to `f` as it arrives, until `count` denials,
    /// `deadline`, a signal (with a [`SignalGuard`]), or `f` returning
    /// false.
    pub fn run(
        &self,
        count: Option<u64>,
        deadline: Option<Instant>,
        f: &mut dyn FnMut(Watched<'_>) -> bool,
    ) -> Result<WatchEnd, TraceFsError> {
        let mut pipe = self.instance.pipe()?;
        let mut seen = 0u64;
        let mut stop = None;
        loop {
            pipe.read_lines(&mut |text| {
                if stop.is_some() {
                    return;
                }
                let item = if let Some((_, n)) = trace::parse_lost(text) {
                    Watched::Lost(n)
                } else {
                    let Some(line) = trace::parse_line(text) else { return };
                    if line.event != trace::FILTER_DENY {
                        return;
                    }
                    match FilterDeny::parse(line.body) {
                        Ok(deny) => {
                            seen += 1;
                            Watched::Deny { line, deny }
                        }
                        Err(err) => Watched::Unparsed { line: text, err },
                    }
                };
                if !f(item) {
                    stop = Some(WatchEnd::Stopped);
                } else if count.is_some_and(|c| seen >= c) {
                    stop = Some(WatchEnd::Count);
                }
            })
            .map_err(io_err("reading trace_pipe"))?;
            if let Some(end) = stop {
                return Ok(end);
            }
            if let Some(sig) = take_signal() {
                return Ok(WatchEnd::Signal(sig));
            }
            let left = match deadline {
                Some(d) if Instant::now() >= d => return Ok(WatchEnd::Deadline),
                Some(d) => (d - Instant::now()).min(Duration::from_millis(200)),
                None => Duration::from_millis(200),
            };
            Pipe::wait_any(&[&pipe], left).map_err(io_err("poll"))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 128 + 9);
    }

    #[test]
    fn resolve_finds_commands() {
        assert_eq!(resolve(OsStr::new("./x")).unwrap(), PathBuf::from("./x"));
        let sh = resolve(OsStr::new("sh")).unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
        assert_eq!(resolve(OsStr::new("no-such-command-iou")).unwrap_err().raw_os_error(), Some(libc::ENOENT));
        assert!(resolve(OsStr::new("")).is_err());
    }

    /// The fork and exec machinery, without tracing: a released child runs
    /// and its status comes back; an unreleased one runs nothing; a
    /// missing command is an exec error; a deadline kills.
    #[test]
    fn stopped_children() {
        let mut r = spawn_stopped(&["sh", "-c", "exit 7"]).unwrap().release().unwrap();
        assert_eq!(r.wait(None).unwrap().map(exit_code), Some(7));
        let marker = std::env::temp_dir().join(format!("iou-stopped-{}", std::process::id()));
        let s = spawn_stopped(&[OsStr::new("touch"), marker.as_os_str()]).unwrap();
        drop(s);
        assert!(!marker.exists());
        let e = spawn_stopped(&["/nonexistent/cmd"]).unwrap().release().err().unwrap();
        assert!(matches!(&e, TraceFsError::Exec { err, .. } if err.raw_os_error() == Some(libc::ENOENT)), "{e}");
        assert!(matches!(spawn_stopped(&["no-such-command-iou"]), Err(TraceFsError::Exec { .. })));
        // SIGPIPE is not left ignored, as the Rust runtime has it.
        let pipe_dfl = r#"m=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status); [ $((0x$m & 0x1000)) -eq 0 ]"#;
        let mut r = spawn_stopped(&["sh", "-c", pipe_dfl]).unwrap().release().unwrap();
        assert_eq!(r.wait(None).unwrap().map(exit_code), Some(0));
        let mut r = spawn_stopped(&["sleep", "10"]).unwrap().release().unwrap();
        let t = Instant::now();
        assert_eq!(r.wait(Some(Instant::now() + Duration::from_millis(50))).unwrap(), None);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    /// While the guard lives, the signals are noted, not fatal; dropped,
    /// it restores what they did (checked without raising them again).
    #[test]
    fn signal_guard_notes_signals() {
        let before = |sig| {
            // SAFETY: reading a disposition into a zeroed sigaction.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, std::ptr::null(), &mut old);
                old.sa_sigaction
            }
        };
        let old = before(libc::SIGHUP);
        let guard = SignalGuard::install().unwrap();
        assert_eq!(take_signal(), None);
        // SAFETY: raise(3) of a signal the guard catches.
        assert_eq!(unsafe { libc::raise(libc::SIGHUP) }, 0);
        assert_eq!(take_signal(), Some(libc::SIGHUP));
        assert_eq!(take_signal(), None);
        drop(guard);
        assert_eq!(before(libc::SIGHUP), old);
    }

    #[test]
    fn messages() {
        assert!(TraceFsError::NotMounted.to_string().contains("mount -t tracefs nodev /sys/kernel/tracing"));
        let e = TraceFsError::Io { what: "mkdir x".into(), err: io::Error::from_raw_os_error(libc::EACCES) };
        assert!(e.to_string().ends_with("(tracing needs root)"), "{e}");
        assert_eq!(
            TraceFsError::NoEvent(trace::FILTER_DENY).to_string(),
            "this kernel has no io_uring:io_uring_bpf_filter_deny tracepoint (no events/io_uring/io_uring_bpf_filter_deny in tracefs)"
        );
    }
}
