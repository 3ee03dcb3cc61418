//! `iou-sandbox test`: a request described on the command line, as the
//! filter context the kernel would build for it.

use iou_policy::abi::ctx_off;
use iou_policy::bpf::Ctx;
use iou_policy::names::{
    self, FAMILIES, KERNEL_O_LARGEFILE, MODE_BITS, OPEN_FLAGS, PROTOCOLS, RESOLVE_BITS, SOCK_TYPES,
};
use iou_policy::opcodes::{self, IORING_OP_CONNECT, IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_SOCKET};
use iou_policy::policy::{AF_INET, AF_INET6, Field};
use std::net::{IpAddr, SocketAddr};

/// The request options of `test`, as given.
#[derive(Default)]
pub struct Request {
    pub op: Option<String>,
    pub addr: Option<String>,
    pub family: Option<String>,
    pub port: Option<String>,
    pub sock_type: Option<String>,
    pub protocol: Option<String>,
    pub flags: Option<String>,
    pub mode: Option<String>,
    pub resolve: Option<String>,
    pub sqe_flags: Option<String>,
}

impl Request {
    /// Take `--NAME VALUE` if it is one of the request's options.
    pub fn option(&mut self, name: &str, value: Option<String>) -> Result<bool, String> {
        let slot = match name {
            "--op" => &mut self.op,
            "--addr" => &mut self.addr,
            "--family" => &mut self.family,
            "--port" => &mut self.port,
            "--type" => &mut self.sock_type,
            "--protocol" => &mut self.protocol,
            "--flags" => &mut self.flags,
            "--mode" => &mut self.mode,
            "--resolve" => &mut self.resolve,
            "--sqe-flags" => &mut self.sqe_flags,
            _ => return Ok(false),
        };
        let v = value.ok_or(format!("{name} needs a value"))?;
        if slot.replace(v).is_some() {
            return Err(format!("{name} given twice"));
        }
        Ok(true)
    }

    /// The context the kernel builds for the request (its prep: O_LARGEFILE
    /// added to opens without O_PATH, as a 64-bit kernel does; an OPENAT
    /// mode kept only with O_CREAT or O_TMPFILE; IOSQE_ASYNC on opens that
    /// create or truncate), and notes on what was added.
    pub fn ctx(&self) -> Result<(Ctx, Vec<String>), String> {
        let name = self.op.as_deref().ok_or("test: --op NAME is required")?;
        let op = opcodes::opcode_by_name(name).ok_or_else(|| {
            format!(
                "--op: unknown opcode `{name}`{}",
                iou_policy::parse::suggest(name, opcodes::OPCODE_NAMES.iter().copied())
            )
        })?;
        let mut c = Ctx::new(op);
        let mut notes = Vec::new();
        // An option applies where the policy condition on its field does.
        let only = |opt: &Option<String>, what: &str, field: Field| match opt {
            Some(_) if !field.applies_to(op) => Err(format!("{what} does not apply to {}", opcodes::opcode_label(op))),
            _ => Ok(()),
        };
        only(&self.addr, "--addr", Field::Addr)?;
        only(&self.port, "--port", Field::Port)?;
        only(&self.family, "--family", Field::Family)?;
        only(&self.sock_type, "--type", Field::SockType)?;
        only(&self.protocol, "--protocol", Field::Protocol)?;
        only(&self.flags, "--flags", Field::OpenFlags)?;
        only(&self.mode, "--mode", Field::Mode)?;
        only(&self.resolve, "--resolve", Field::Resolve)?;
        let mut sqe = match &self.sqe_flags {
            Some(s) => mask(s, names::SQE_FLAGS, "IOSQE_", "--sqe-flags")? as u8,
            None => 0,
        };
        if op == IORING_OP_CONNECT {
            let (mut family, mut port, mut bytes) = (0u32, 0u16, Vec::new());
            if let Some(a) = &self.addr {
                let sa: SocketAddr = match a.parse::<SocketAddr>() {
                    Ok(sa) => sa,
                    Err(_) => match a.parse::<IpAddr>() {
                        Ok(ip) => SocketAddr::new(ip, 0),
                        Err(_) => return Err(format!("--addr: {a:?} is not ADDRESS[:PORT] ([v6]:port for IPv6)")),
                    },
                };
                port = sa.port();
                (family, bytes) = match sa.ip() {
                    IpAddr::V4(v) => (AF_INET, v.octets().to_vec()),
                    IpAddr::V6(v) => (AF_INET6, v.octets().to_vec()),
                };
            }
            if let Some(f) = &self.family {
                family = name_or_number(f, FAMILIES, "AF_", "--family")?;
            }
            if let Some(p) = &self.port {
                port = p.parse().map_err(|_| format!("--port: {p:?} is not a port"))?;
            }
            c = Ctx::connect(family, port, &bytes);
        } else if op == IORING_OP_SOCKET {
            let get =
                |v: &Option<String>, t, pre, what| v.as_deref().map_or(Ok(0), |s| name_or_number(s, t, pre, what));
            c = Ctx::socket(
                get(&self.family, FAMILIES, "AF_", "--family")?,
                get(&self.sock_type, SOCK_TYPES, "SOCK_", "--type")?,
                get(&self.protocol, PROTOCOLS, "IPPROTO_", "--protocol")?,
            );
        } else if op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2 {
            let get = |v: &Option<String>, t, pre, what| v.as_deref().map_or(Ok(0), |s| mask(s, t, pre, what));
            let mut flags = get(&self.flags, OPEN_FLAGS, "O_", "--flags")?;
            let mut mode = get(&self.mode, MODE_BITS, "S_", "--mode")?;
            let resolve = get(&self.resolve, RESOLVE_BITS, "RESOLVE_", "--resolve")?;
            let path = libc::O_PATH as u64;
            if flags & path == 0 && flags & KERNEL_O_LARGEFILE == 0 {
                flags |= KERNEL_O_LARGEFILE;
                notes.push("O_LARGEFILE added to the flags, as the kernel does for opens without O_PATH".into());
            }
            let create = (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u64;
            if op == IORING_OP_OPENAT && flags & create == 0 && mode != 0 {
                mode = 0;
                notes.push("mode dropped: OPENAT keeps it only with O_CREAT or O_TMPFILE".into());
            }
            if flags & (create | libc::O_TRUNC as u64) != 0 && sqe & iou_policy::abi::IOSQE_ASYNC == 0 {
                sqe |= iou_policy::abi::IOSQE_ASYNC;
                notes.push("IOSQE_ASYNC added: io_uring forces opens that create or truncate async".into());
            }
            c = Ctx::open(op, flags, mode, resolve);
        }
        c.set_sqe_flags(sqe);
        Ok((c, notes))
    }
}

/// The context, described for people.
pub fn describe(c: &Ctx) -> String {
    let op = c.opcode();
    let mut s = opcodes::opcode_label(op);
    let fam = |v: u32| match names::name_of(FAMILIES, v) {
        Some(n) => format!("AF_{} ({v})", n.to_ascii_uppercase()),
        None => v.to_string(),
    };
    if op == IORING_OP_CONNECT {
        let family = c.u32_at(ctx_off::CONNECT_FAMILY);
        let addr = c.connect_ip().map_or_else(|| "-".to_string(), |ip| ip.to_string());
        s += &format!(": family {}, port {}, address {addr}", fam(family), c.connect_port());
    } else if op == IORING_OP_SOCKET {
        s += &format!(
            ": family {}, type {}, protocol {}",
            fam(c.u32_at(ctx_off::SOCKET_FAMILY)),
            c.u32_at(ctx_off::SOCKET_TYPE),
            c.u32_at(ctx_off::SOCKET_PROTOCOL)
        );
    } else if op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2 {
        let f = c.u64_at(ctx_off::OPEN_FLAGS);
        let named = names::mask_name(OPEN_FLAGS, f).map(|n| format!(" ({n})")).unwrap_or_default();
        s += &format!(": flags {f:#x}{named}, mode {:#o}", c.u64_at(ctx_off::OPEN_MODE));
        if op == IORING_OP_OPENAT2 {
            s += &format!(", resolve {:#x}", c.u64_at(ctx_off::OPEN_RESOLVE));
        }
    }
    if c.sqe_flags() != 0 {
        let n = names::mask_name(names::SQE_FLAGS, c.sqe_flags() as u64).unwrap_or_default();
        s += &format!(", sqe_flags {:#x} ({n})", c.sqe_flags());
    }
    s
}

fn number(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = s.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else {
        s.parse().ok()
    }
}

fn name_or_number(s: &str, table: &[(&str, u32)], prefix: &str, what: &str) -> Result<u32, String> {
    if let Some(v) = number(s) {
        return u32::try_from(v).map_err(|_| format!("{what}: {s} is too large"));
    }
    names::lookup(table, prefix, s).ok_or_else(|| {
        format!("{what}: unknown name {s:?}{}", iou_policy::parse::suggest(s, table.iter().map(|e| e.0)))
    })
}

/// `A,B|C` or numbers: the OR of the named bits.
fn mask(s: &str, table: &[(&str, u64)], prefix: &str, what: &str) -> Result<u64, String> {
    let mut m = 0;
    for part in s.split([',', '|']).map(str::trim).filter(|p| !p.is_empty()) {
        m |= match number(part) {
            Some(v) => v,
            // The access mode that is no bit.
            None if part.eq_ignore_ascii_case("O_RDONLY") || part.eq_ignore_ascii_case("rdonly") => 0,
            None => names::lookup(table, prefix, part).ok_or_else(|| {
                format!("{what}: unknown name {part:?}{}", iou_policy::parse::suggest(part, table.iter().map(|e| e.0)))
            })?,
        };
    }
    Ok(m)
}
