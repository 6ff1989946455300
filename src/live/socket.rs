//! The AF_PACKET socket and its memory-mapped TPACKET_V3 receive ring.
//!
//! Set-up order matters and follows libpcap's reasoning: the socket is created with protocol 0,
//! which receives nothing, then gets its version, headroom, ring and BPF filter, and only then is
//! bound with `ETH_P_ALL` to the interface. So no packet is queued before the filter is in place
//! and there is nothing to drain (libpcap has to drain because it binds first).
//!
//! Several sockets (`live --threads N`) join one `PACKET_FANOUT` group that hashes each flow to
//! one of them ([`PacketSocket::open_group`]); each has its own ring.
//!
//! Ownership of ring blocks is the handshake of `block_status`: the kernel sets `TP_STATUS_USER`
//! (with release semantics) when a block is full or its retire timer fired; user space reads it
//! with acquire semantics, owns the block until it writes `TP_STATUS_KERNEL` back (release), and
//! in between may read and write the block freely — the kernel does not touch it.

use super::bpf::{Insn, op};
use super::ring::{BLOCK_NUM_PKTS_OFFSET, BLOCK_STATUS_OFFSET, Framing};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TPACKET_V3: libc::c_int = 2;

/// Size and timing of the receive ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingGeometry {
    /// Bytes per block (a multiple of the page size; bounds the largest packet).
    pub block_size: u32,
    pub block_count: u32,
    /// Nominal frame size; V3 packs variable-length packets, this only satisfies the kernel's
    /// bookkeeping (`tp_frame_nr`).
    pub frame_size: u32,
    /// A block holding at least one packet is handed over after this long even if not full, so
    /// a quiet link still delivers promptly.
    pub retire_tov_ms: u32,
}

impl Default for RingGeometry {
    fn default() -> Self {
        RingGeometry {
            block_size: 1 << 20,
            block_count: 32,
            frame_size: 2048,
            retire_tov_ms: 64,
        }
    }
}

impl RingGeometry {
    /// The default geometry with as many blocks as fit in `bytes` (at least 4): the ring is
    /// part of the process's memory (`--memory`).
    pub fn with_bytes(bytes: usize) -> RingGeometry {
        let d = RingGeometry::default();
        let blocks = bytes / d.block_size as usize;
        let least = (crate::config::MIN_RING_MIB << 20) / d.block_size as usize;
        RingGeometry {
            block_count: u32::try_from(blocks.max(least)).unwrap_or(u32::MAX),
            ..d
        }
    }

    /// The next smaller geometry to try when the kernel cannot allocate this one.
    pub fn smaller(self) -> Option<RingGeometry> {
        if self.block_count > 4 {
            Some(RingGeometry {
                block_count: self.block_count / 2,
                ..self
            })
        } else if self.block_size > 1 << 17 {
            Some(RingGeometry {
                block_size: self.block_size / 2,
                ..self
            })
        } else {
            None
        }
    }

    pub fn total_bytes(self) -> usize {
        self.block_size as usize * self.block_count as usize
    }

    fn request(self) -> libc::tpacket_req3 {
        libc::tpacket_req3 {
            tp_block_size: self.block_size,
            tp_block_nr: self.block_count,
            tp_frame_size: self.frame_size,
            tp_frame_nr: (self.block_size / self.frame_size) * self.block_count,
            tp_retire_blk_tov: self.retire_tov_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        }
    }
}

/// The memory-mapped ring: `blocks` blocks of `block_size` bytes.
pub struct Ring {
    base: NonNull<u8>,
    block_size: usize,
    blocks: usize,
}

impl Ring {
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    fn word(&self, block: usize, offset: usize) -> Option<&AtomicU32> {
        if block >= self.blocks {
            return None;
        }
        // SAFETY: `block < blocks`, so the word lies inside the mapping; block starts are page
        // aligned and the offsets are multiples of 4, so the pointer is aligned for AtomicU32. The
        // kernel accesses this word concurrently, which is what the atomic type is for.
        unsafe {
            let p = self.base.as_ptr().add(block * self.block_size + offset);
            Some(AtomicU32::from_ptr(p.cast::<u32>()))
        }
    }

    /// Whether user space owns `block` (its packets are ready).
    pub fn is_user(&self, block: usize) -> bool {
        self.word(block, BLOCK_STATUS_OFFSET)
            .is_some_and(|w| w.load(Ordering::Acquire) & TP_STATUS_USER != 0)
    }

    /// Packets the kernel has put so far into `block` while it still owns it. Only a hint (it
    /// races with the kernel), used to decide whether waiting for the block is worthwhile.
    pub fn packets_in_kernel_block(&self, block: usize) -> u32 {
        self.word(block, BLOCK_NUM_PKTS_OFFSET)
            .map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// Hands `block` back to the kernel. The caller must hold no reference into it any more.
    pub fn release(&self, block: usize) {
        if let Some(w) = self.word(block, BLOCK_STATUS_OFFSET) {
            w.store(TP_STATUS_KERNEL, Ordering::Release);
        }
    }

    /// Raw pointer to the start of `block`.
    pub fn block_ptr(&self, block: usize) -> Option<NonNull<u8>> {
        // SAFETY: in bounds of the mapping for `block < blocks`.
        (block < self.blocks).then(|| unsafe {
            NonNull::new_unchecked(self.base.as_ptr().add(block * self.block_size))
        })
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `PacketSocket::open`; no slice into it
        // outlives the ring (frames borrow the source that owns the ring).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.blocks * self.block_size);
        }
    }
}

pub use crate::source::KernelStats;

/// What `poll` saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Readable,
    TimedOut,
    Interrupted,
    /// POLLERR / POLLHUP / POLLNVAL: read the socket error.
    Error,
}

/// Why the socket could not be set up.
#[derive(Debug)]
pub enum OpenError {
    /// No CAP_NET_RAW.
    NotPermitted,
    /// The interface went down (or away) while setting up.
    InterfaceDown,
    Io {
        step: &'static str,
        error: io::Error,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NotPermitted => write!(f, "operation not permitted"),
            OpenError::InterfaceDown => write!(f, "interface is down"),
            OpenError::Io { step, error } => write!(f, "{step}: {error}"),
        }
    }
}

/// A bound AF_PACKET socket with its ring and filter.
pub struct PacketSocket {
    // Field order: the ring is unmapped before the socket is closed.
    ring: Ring,
    fd: OwnedFd,
    geometry: RingGeometry,
    totals: KernelStats,
    /// Set when promiscuous mode was asked for and refused.
    pub promisc_error: Option<io::Error>,
}

fn check(rc: libc::c_int, step: &'static str) -> Result<(), OpenError> {
    if rc < 0 {
        Err(OpenError::Io {
            step,
            error: io::Error::last_os_error(),
        })
    } else {
        Ok(())
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> libc::c_int {
    // SAFETY: `value` is a live, properly sized value of the option's type.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    }
}

/// Attaches (or replaces) the socket's BPF filter.
fn attach_filter(fd: &OwnedFd, filter: &[Insn]) -> Result<(), OpenError> {
    let mut insns: Vec<libc::sock_filter> = filter.iter().map(|i| i.to_sock_filter()).collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(insns.len()).map_err(|_| OpenError::Io {
            step: "attaching the packet filter",
            error: io::Error::from_raw_os_error(libc::EINVAL),
        })?,
        filter: insns.as_mut_ptr(),
    };
    check(
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog),
        "attaching the packet filter",
    )
}

/// Reads option `name` into `value` (plain old data of the option's size).
fn getsockopt<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &mut T,
) -> libc::c_int {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` and `len` describe a live buffer of the option's type and size.
    unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *mut T).cast(),
            &mut len,
        )
    }
}

/// Waits until a block is ready in any of `sockets`, the timeout passes, a signal arrives, or
/// one of them fails ([`Readiness::Error`]: read each one's error).
pub fn poll_any<'a>(
    sockets: impl IntoIterator<Item = &'a PacketSocket>,
    timeout: Duration,
) -> Readiness {
    let mut fds: Vec<libc::pollfd> = sockets
        .into_iter()
        .map(|s| libc::pollfd {
            fd: s.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        return if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            Readiness::Interrupted
        } else {
            Readiness::Error
        };
    }
    if rc == 0 {
        return Readiness::TimedOut;
    }
    if fds
        .iter()
        .any(|p| p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0)
    {
        Readiness::Error
    } else {
        Readiness::Readable
    }
}

/// A filter that accepts nothing: the rings of a fanout group hold it until all have joined.
const REJECT_ALL: [Insn; 1] = [Insn::new(op::RET | op::K, 0, 0, 0)];

/// `PACKET_FANOUT` mode: the kernel's symmetric flow hash, IP fragments reassembled first.
const FANOUT_HASH_DEFRAG: u32 = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;

impl PacketSocket {
    /// Opens a capture socket on interface `ifindex` (0 = every interface).
    pub fn open(
        ifindex: u32,
        framing: Framing,
        filter: &[Insn],
        promisc: bool,
        geometry: RingGeometry,
    ) -> Result<PacketSocket, OpenError> {
        let kind = match framing {
            Framing::CookedSll2 => libc::SOCK_DGRAM,
            Framing::Ethernet | Framing::Raw => libc::SOCK_RAW,
        };
        // Protocol 0: the socket receives nothing until `bind` names a protocol.
        // SAFETY: plain socket(2); the result is checked before being owned.
        let raw = unsafe { libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let error = io::Error::last_os_error();
            return Err(match error.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => OpenError::NotPermitted,
                _ => OpenError::Io {
                    step: "creating the packet socket",
                    error,
                },
            });
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        check(
            setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3),
            "selecting TPACKET_V3",
        )?;
        let reserve = framing.reserve() as libc::c_uint;
        check(
            setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_RESERVE, &reserve),
            "reserving ring headroom",
        )?;

        let mut geometry = geometry;
        loop {
            let req = geometry.request();
            if setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req) == 0 {
                break;
            }
            let error = io::Error::last_os_error();
            match (error.raw_os_error(), geometry.smaller()) {
                (Some(libc::ENOMEM), Some(smaller)) => geometry = smaller,
                _ => {
                    return Err(OpenError::Io {
                        step: "setting up the receive ring",
                        error,
                    });
                }
            }
        }
        let len = geometry.total_bytes();
        // SAFETY: maps the ring the kernel just allocated for this socket; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(OpenError::Io {
                step: "mapping the receive ring",
                error: io::Error::last_os_error(),
            });
        }
        let ring = Ring {
            base: NonNull::new(base.cast::<u8>()).ok_or(OpenError::Io {
                step: "mapping the receive ring",
                error: io::Error::other("null mapping"),
            })?,
            block_size: geometry.block_size as usize,
            blocks: geometry.block_count as usize,
        };

        attach_filter(&fd, filter)?;

        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: `addr` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            let error = io::Error::last_os_error();
            return Err(match error.raw_os_error() {
                Some(libc::ENETDOWN | libc::ENODEV | libc::ENXIO) => OpenError::InterfaceDown,
                _ => OpenError::Io {
                    step: "binding to the interface",
                    error,
                },
            });
        }

        let mut promisc_error = None;
        if promisc && ifindex != 0 {
            let mreq = libc::packet_mreq {
                mr_ifindex: ifindex as i32,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            if setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq) < 0 {
                promisc_error = Some(io::Error::last_os_error());
            }
        }

        let socket = PacketSocket {
            ring,
            fd,
            geometry,
            totals: KernelStats::default(),
            promisc_error,
        };
        // Binding to an interface that is down succeeds but leaves ENETDOWN pending.
        match socket.take_error() {
            Some(e) if e.raw_os_error() == Some(libc::ENETDOWN) => Err(OpenError::InterfaceDown),
            Some(error) => Err(OpenError::Io {
                step: "binding to the interface",
                error,
            }),
            None => Ok(socket),
        }
    }

    /// Opens `n` capture sockets on `ifindex`, each with its ring of `geometry`, joined in one
    /// `PACKET_FANOUT` group (`PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG`): the kernel
    /// reassembles IP fragments, then hands each packet to the socket its flow hashes to. The
    /// hash is `__skb_get_hash_symmetric` (`net/packet/af_packet.c`, `fanout_demux_hash`), which
    /// orders the addresses and ports before hashing (`__flow_hash_consistentify` in
    /// `net/core/flow_dissector.c`), so both directions of a TCP connection reach the same
    /// socket. One socket (`n` = 1) is opened as [`PacketSocket::open`] opens it, without a group.
    ///
    /// A socket bound but not yet in the group would receive every packet itself, so each is
    /// bound with a filter that rejects everything and gets `filter` only once all have joined:
    /// no packet is captured twice. Promiscuous mode is asked for on the first socket.
    pub fn open_group(
        n: usize,
        ifindex: u32,
        framing: Framing,
        filter: &[Insn],
        promisc: bool,
        geometry: RingGeometry,
    ) -> Result<Vec<PacketSocket>, OpenError> {
        if n <= 1 {
            return PacketSocket::open(ifindex, framing, filter, promisc, geometry)
                .map(|s| vec![s]);
        }
        let mut sockets = Vec::with_capacity(n);
        let mut group = None;
        for i in 0..n {
            let socket =
                PacketSocket::open(ifindex, framing, &REJECT_ALL, promisc && i == 0, geometry)?;
            group = Some(socket.join_fanout(group)?);
            sockets.push(socket);
        }
        for socket in &sockets {
            attach_filter(&socket.fd, filter)?;
        }
        Ok(sockets)
    }

    /// Joins fanout group `group`, or a new group with an id the kernel picks
    /// (`PACKET_FANOUT_FLAG_UNIQUEID`); returns the group's id.
    fn join_fanout(&self, group: Option<u16>) -> Result<u16, OpenError> {
        let step = "joining the fanout group";
        let arg: u32 = match group {
            Some(id) => (FANOUT_HASH_DEFRAG << 16) | u32::from(id),
            None => (FANOUT_HASH_DEFRAG | libc::PACKET_FANOUT_FLAG_UNIQUEID) << 16,
        };
        check(
            setsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg),
            step,
        )?;
        if let Some(id) = group {
            return Ok(id);
        }
        let mut got: u32 = 0;
        let rc = getsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &mut got);
        check(rc, step)?;
        // The id is the low 16 bits; the mode and flags the high ones.
        Ok((got & 0xffff) as u16)
    }

    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The geometry actually in use (smaller than asked if memory was short).
    pub fn geometry(&self) -> RingGeometry {
        self.geometry
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    pub fn take_error(&self) -> Option<io::Error> {
        let mut err: libc::c_int = 0;
        let rc = getsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut err);
        if rc < 0 {
            Some(io::Error::last_os_error())
        } else if err != 0 {
            Some(io::Error::from_raw_os_error(err))
        } else {
            None
        }
    }

    /// Kernel counters since the capture started. Reading them resets the kernel's copy, so they
    /// are accumulated here.
    pub fn statistics(&mut self) -> io::Result<KernelStats> {
        // SAFETY: tpacket_stats_v3 is plain old data.
        let mut st: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
        let rc = getsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_STATISTICS, &mut st);
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // The kernel's tp_packets already includes tp_drops.
        self.totals.received += u64::from(st.tp_packets);
        self.totals.dropped += u64::from(st.tp_drops);
        self.totals.freezes += u64::from(st.tp_freeze_q_cnt);
        Ok(self.totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_shrinks_to_a_floor() {
        let mut g = RingGeometry::default();
        let mut steps = 0;
        while let Some(s) = g.smaller() {
            assert!(s.total_bytes() < g.total_bytes());
            g = s;
            steps += 1;
        }
        assert_eq!((g.block_count, g.block_size), (4, 1 << 17));
        assert!(steps > 0);
        let req = RingGeometry::default().request();
        assert_eq!(req.tp_frame_nr, (1 << 20) / 2048 * 32);
        assert!((50..=100).contains(&req.tp_retire_blk_tov));
    }
}
