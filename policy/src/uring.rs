//! A minimal io_uring over raw syscalls: one ring, one request at a time.
//!
//! Enough to submit real requests from tests (the guest oracle check
//! compares the kernel's verdicts with [`crate::compile::FilterSet`]); not a
//! general-purpose io_uring library.

use core::mem::{offset_of, size_of};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0;
const IORING_FEAT_EXT_ARG: u32 = 1 << 8;
const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
const IORING_ENTER_SQ_WAKEUP: u32 = 1 << 1;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
/// `IORING_SETUP_SQPOLL`: a kernel thread of the process (its SQ thread)
/// submits the requests.
pub const IORING_SETUP_SQPOLL: u32 = 1 << 1;

/// `struct io_uring_sqe` (64 bytes), with the field names of the union
/// members this crate uses.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sqe {
    pub opcode: u8,
    /// IOSQE_* flags.
    pub flags: u8,
    pub ioprio: u16,
    pub fd: i32,
    /// `off` / `addr2`.
    pub off: u64,
    /// `addr` / `splice_off_in`.
    pub addr: u64,
    pub len: u32,
    /// `rw_flags` / `open_flags` / ... .
    pub op_flags: u32,
    pub user_data: u64,
    pub buf_index: u16,
    pub personality: u16,
    /// `file_index` / `splice_fd_in`.
    pub file_index: u32,
    pub addr3: u64,
    pub pad2: u64,
}

/// `struct io_uring_cqe` (16 bytes, without the CQE32 extension).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cqe {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    pad: u32,
    ts: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

const _: () = {
    assert!(size_of::<Sqe>() == 64);
    assert!(offset_of!(Sqe, fd) == 4);
    assert!(offset_of!(Sqe, off) == 8);
    assert!(offset_of!(Sqe, addr) == 16);
    assert!(offset_of!(Sqe, len) == 24);
    assert!(offset_of!(Sqe, op_flags) == 28);
    assert!(offset_of!(Sqe, user_data) == 32);
    assert!(offset_of!(Sqe, buf_index) == 40);
    assert!(offset_of!(Sqe, file_index) == 44);
    assert!(offset_of!(Sqe, addr3) == 48);
    assert!(size_of::<Cqe>() == 16);
    assert!(size_of::<SqOffsets>() == 40);
    assert!(size_of::<CqOffsets>() == 40);
    assert!(size_of::<Params>() == 120);
    assert!(size_of::<GeteventsArg>() == 24);
};

struct Map {
    ptr: NonNull<u8>,
    len: usize,
}

impl Map {
    fn new(fd: i32, len: usize, off: i64) -> io::Result<Map> {
        // SAFETY: a fresh shared mapping of the ring fd; no existing memory
        // is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Map { ptr: NonNull::new(p.cast()).expect("mmap returned NULL"), len })
    }

    /// Pointer to a `T` at byte offset `off` (inside the mapping, aligned:
    /// the kernel's ring offsets are).
    fn at<T>(&self, off: u32) -> *mut T {
        assert!(off as usize + size_of::<T>() <= self.len);
        // SAFETY: in bounds, checked above.
        unsafe { self.ptr.as_ptr().add(off as usize).cast() }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping, which nothing references any
        // more (the ring owns both and drops them together).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One io_uring instance.
pub struct Ring {
    fd: i32,
    sq: Map,
    /// `None` with IORING_FEAT_SINGLE_MMAP (the CQ ring is in `sq`).
    cq: Option<Map>,
    sqes: Map,
    p: Params,
}

fn enter(
    fd: i32,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    arg: *const libc::c_void,
    argsz: usize,
) -> io::Result<i64> {
    // SAFETY: io_uring_enter with a valid (or null) argument of `argsz`
    // bytes.
    let r = unsafe { libc::syscall(libc::SYS_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

impl Ring {
    /// `io_uring_setup(entries)` and map the rings.
    pub fn new(entries: u32) -> io::Result<Ring> {
        Ring::with_flags(entries, 0)
    }

    /// `io_uring_setup(entries)` with `IORING_SETUP_*` flags
    /// ([`IORING_SETUP_SQPOLL`]; none that changes the SQE or CQE size).
    pub fn with_flags(entries: u32, flags: u32) -> io::Result<Ring> {
        let mut p = Params { flags, ..Default::default() };
        // SAFETY: p is a valid io_uring_params the kernel reads and writes.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, &mut p as *mut Params) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = fd as i32;
        let guard = FdGuard(fd);
        if p.features & IORING_FEAT_EXT_ARG == 0 {
            return Err(io::Error::other("kernel without IORING_FEAT_EXT_ARG"));
        }
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<Cqe>();
        let single = p.features & IORING_FEAT_SINGLE_MMAP != 0;
        let sq = Map::new(fd, if single { sq_len.max(cq_len) } else { sq_len }, IORING_OFF_SQ_RING)?;
        let cq = if single { None } else { Some(Map::new(fd, cq_len, 0x800_0000)?) };
        let sqes = Map::new(fd, p.sq_entries as usize * size_of::<Sqe>(), IORING_OFF_SQES)?;
        std::mem::forget(guard);
        Ok(Ring { fd, sq, cq, sqes, p })
    }

    /// The ring's file descriptor (for ring-level registration).
    pub fn fd(&self) -> i32 {
        self.fd
    }

    fn cq_map(&self) -> &Map {
        self.cq.as_ref().unwrap_or(&self.sq)
    }

    fn atomic(&self, m: &Map, off: u32) -> &AtomicU32 {
        // SAFETY: ring head/tail words are 4-byte aligned u32s shared with
        // the kernel, valid while the mapping lives (as long as self).
        unsafe { AtomicU32::from_ptr(m.at::<u32>(off)) }
    }

    /// Queue one SQE and submit it. Returns the kernel's count of consumed
    /// SQEs (1, even for a request that fails at init). On an SQPOLL ring
    /// the SQ thread submits it, woken if it sleeps; the count is then 1
    /// whatever happens to the request.
    ///
    /// # Safety
    ///
    /// The kernel dereferences the addresses the SQE carries (`addr`,
    /// `off`/`addr2`, `addr3`, as the opcode defines them), reading or
    /// writing user memory, possibly after this call returns. The caller
    /// guarantees that each of them points to memory that is valid for the
    /// access the opcode makes (a buffer of `len` bytes for READ, a NUL
    /// terminated path, a `struct open_how`, a socket address of `off`
    /// bytes, ...) and stays valid, and unused by anything else where the
    /// kernel writes, until the request's CQE has been reaped or the ring
    /// is dropped. File descriptors in the SQE are not memory: a wrong one
    /// gives an error completion, not undefined behaviour.
    pub unsafe fn submit(&mut self, sqe: &Sqe) -> io::Result<u32> {
        let mask = self.p.sq_entries - 1;
        let tail = self.atomic(&self.sq, self.p.sq_off.tail).load(Ordering::Relaxed);
        let head = self.atomic(&self.sq, self.p.sq_off.head).load(Ordering::Acquire);
        if tail.wrapping_sub(head) >= self.p.sq_entries {
            return Err(io::Error::other("submission queue full"));
        }
        let idx = tail & mask;
        // SAFETY: idx < sq_entries: inside the SQE array and the index array.
        unsafe {
            self.sqes.at::<Sqe>(0).add(idx as usize).write(*sqe);
            self.sq.at::<u32>(self.p.sq_off.array).add(idx as usize).write(idx);
        }
        self.atomic(&self.sq, self.p.sq_off.tail).store(tail.wrapping_add(1), Ordering::Release);
        let flags = if self.p.flags & IORING_SETUP_SQPOLL != 0 { IORING_ENTER_SQ_WAKEUP } else { 0 };
        loop {
            match enter(self.fd, 1, 0, flags, std::ptr::null(), 0) {
                Ok(n) => return Ok(n as u32),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Take the next CQE if there is one.
    pub fn pop_cqe(&mut self) -> Option<Cqe> {
        let cq = self.cq_map();
        let head = self.atomic(cq, self.p.cq_off.head).load(Ordering::Relaxed);
        let tail = self.atomic(cq, self.p.cq_off.tail).load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        let idx = head & (self.p.cq_entries - 1);
        // SAFETY: idx < cq_entries; the kernel published the entry (tail
        // loaded with acquire).
        let cqe = unsafe { cq.at::<Cqe>(self.p.cq_off.cqes).add(idx as usize).read() };
        self.atomic(cq, self.p.cq_off.head).store(head.wrapping_add(1), Ordering::Release);
        Some(cqe)
    }

    /// Wait up to `timeout` for a CQE.
    pub fn wait_cqe(&mut self, timeout: Duration) -> io::Result<Option<Cqe>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.pop_cqe() {
                return Ok(Some(c));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let left = deadline - now;
            let ts = KernelTimespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 };
            let arg = GeteventsArg { ts: &ts as *const KernelTimespec as u64, ..Default::default() };
            match enter(
                self.fd,
                0,
                1,
                IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                (&arg as *const GeteventsArg).cast(),
                size_of::<GeteventsArg>(),
            ) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR)) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Submit one request and wait up to `timeout` for the CQE with its
    /// `user_data` (CQEs of earlier, timed-out requests are dropped).
    /// `None` if it did not complete in time.
    ///
    /// # Safety
    ///
    /// As for [`Ring::submit`]: the memory the SQE points to must stay
    /// valid until the request completes, which, when this returns
    /// `Ok(None)`, is after this call (a later CQE, or the ring's drop).
    pub unsafe fn run(&mut self, sqe: &Sqe, timeout: Duration) -> io::Result<Option<Cqe>> {
        // SAFETY: the caller's guarantee for `sqe` is the one submit needs.
        unsafe { self.submit(sqe) }?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.wait_cqe(left)? {
                Some(c) if c.user_data == sqe.user_data => return Ok(Some(c)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Maps are unmapped by their own Drop after this; closing the fd
        // first is fine (the mappings keep the ring alive until unmapped).
        // SAFETY: our own fd, closed once.
        unsafe { libc::close(self.fd) };
    }
}

struct FdGuard(i32);

impl Drop for FdGuard {
    fn drop(&mut self) {
        // SAFETY: closing an fd this guard owns.
        unsafe { libc::close(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcodes::IORING_OP_NOP;

    /// Where io_uring is available (not disabled by sysctl or a seccomp
    /// sandbox): a NOP completes with 0 and its user_data.
    #[test]
    fn nop_round_trip() {
        let mut ring = match Ring::new(8) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("io_uring unavailable here ({e}); skipping");
                return;
            }
        };
        for i in 0..20u64 {
            let sqe = Sqe { opcode: IORING_OP_NOP, user_data: 0x1234_0000 + i, ..Default::default() };
            // SAFETY: a NOP carries no address.
            let c = unsafe { ring.run(&sqe, Duration::from_secs(5)) }.unwrap().expect("NOP completes");
            assert_eq!(c.res, 0);
            assert_eq!(c.user_data, 0x1234_0000 + i);
        }
        assert!(ring.pop_cqe().is_none());
    }

    /// Where SQPOLL rings are allowed: the SQ thread submits, woken for
    /// each request.
    #[test]
    fn sqpoll_round_trip() {
        let mut ring = match Ring::with_flags(8, IORING_SETUP_SQPOLL) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("SQPOLL unavailable here ({e}); skipping");
                return;
            }
        };
        for i in 0..3u64 {
            std::thread::sleep(Duration::from_millis(if i == 2 { 1200 } else { 0 }));
            let sqe = Sqe { opcode: IORING_OP_NOP, user_data: 0x5000 + i, ..Default::default() };
            // SAFETY: a NOP carries no address.
            let c = unsafe { ring.run(&sqe, Duration::from_secs(5)) }.unwrap().expect("NOP completes");
            assert_eq!((c.res, c.user_data), (0, 0x5000 + i));
        }
    }
}
