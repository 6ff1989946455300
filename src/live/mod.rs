//! Live capture, as a packet source: an AF_PACKET socket and a memory-mapped TPACKET_V3 ring
//! (no libpcap) turned into a [`PacketSource`](crate::source::PacketSource), with everything it
//! needs around it. The `live` command ([`crate::app::live`]) puts these pieces together and
//! feeds the packets to the same analysis and reporters as `read`.
//!
//! What the pieces promise:
//! - a kernel BPF filter keeps everything but TCP on the selected ports out of user space;
//! - packets are analyzed in place in the ring (zero copy), with kernel nanosecond timestamps;
//! - privileges can be dropped (to the sudo user, or `nobody`; or capabilities cleared) once the
//!   socket is open, and the `-w` file is opened by the user who will own it, never through a
//!   symbolic link;
//! - the source drains what the kernel captured up to a stop (Ctrl-C, SIGTERM, `--duration`,
//!   `--count`); the `-w` file is a valid pcap at every batch boundary;
//! - ring blocks are read without trusting them.
//!
//! Layout: [`bpf`] generates the filter, [`iface`] finds the interface and its link type,
//! [`socket`] owns the socket and ring, [`ring`] reads ring blocks without trusting them,
//! [`source`] turns the ring into a [`PacketSource`](crate::source::PacketSource) and decides
//! when to stop, [`writer`] writes `-w`, [`output`] batches stdout, [`privs`] drops privilege,
//! [`signal`] catches Ctrl-C.

pub mod bpf;
pub mod iface;
pub mod output;
pub mod privs;
pub mod ring;
pub mod signal;
pub mod socket;
pub mod source;
pub mod writer;
