//! Network interfaces: finding the one the user named, listing the others when the name is
//! wrong, and choosing how to capture on it (the link type follows the device's ARPHRD type, as
//! libpcap's `map_arphrd_to_dlt` does: Ethernet-framed devices are captured raw, raw-IP devices
//! as raw IP, everything else and `any` in cooked mode).
//!
//! Lookups use ioctls on a throwaway AF_UNIX socket, so they work without privilege and inside
//! a network namespace entered with `setns` (where /sys may still show another namespace).

use super::ring::Framing;
use crate::source::LinkType;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The pseudo-interface that captures on every interface.
pub const ANY: &str = "any";

const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const ARPHRD_RAWIP: u16 = 519;
const ARPHRD_NONE: u16 = 0xfffe;

/// An interface to capture on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// 0 for `any`.
    pub index: u32,
    /// ARPHRD_* device type; `None` for `any`.
    pub hatype: Option<u16>,
}

impl Interface {
    pub fn framing(&self) -> Framing {
        framing_for(self.hatype)
    }

    pub fn link_type(&self) -> LinkType {
        link_type_for(self.framing())
    }

    pub fn is_any(&self) -> bool {
        self.index == 0
    }
}

/// How to capture on a device of this ARPHRD type (`None` = `any`).
pub fn framing_for(hatype: Option<u16>) -> Framing {
    match hatype {
        Some(ARPHRD_ETHER | ARPHRD_LOOPBACK) => Framing::Ethernet,
        Some(ARPHRD_NONE | ARPHRD_RAWIP) => Framing::Raw,
        _ => Framing::CookedSll2,
    }
}

/// The link type of the frames a framing produces.
pub fn link_type_for(framing: Framing) -> LinkType {
    match framing {
        Framing::Ethernet => LinkType::ETHERNET,
        Framing::Raw => LinkType::RAW,
        Framing::CookedSll2 => LinkType::LINUX_SLL2,
    }
}

/// Why an interface cannot be used.
#[derive(Debug)]
pub enum LookupError {
    /// No interface by that name; `available` lists the ones that exist.
    Unknown {
        name: String,
        available: Vec<String>,
    },
    /// It exists but is not up.
    Down {
        name: String,
    },
    Io {
        name: String,
        error: io::Error,
    },
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::Unknown { name, available } => write!(
                f,
                "{name}: no such interface; available: {}",
                available.join(", ")
            ),
            LookupError::Down { name } => write!(
                f,
                "{name}: interface is down; bring it up first (ip link set {name} up)"
            ),
            LookupError::Io { name, error } => write!(f, "{name}: {error}"),
        }
    }
}

/// Names of every interface, `any` first, then in index order.
pub fn available() -> Vec<String> {
    let mut names: Vec<(u32, String)> = Vec::new();
    // SAFETY: if_nameindex returns a heap array terminated by a zero entry (or null on failure);
    // it is read up to that entry and freed exactly once.
    unsafe {
        let list = libc::if_nameindex();
        if !list.is_null() {
            let mut p = list;
            while (*p).if_index != 0 && !(*p).if_name.is_null() {
                let name = CStr::from_ptr((*p).if_name).to_string_lossy().into_owned();
                names.push(((*p).if_index, name));
                p = p.add(1);
            }
            libc::if_freenameindex(list);
        }
    }
    names.sort();
    std::iter::once(ANY.to_string())
        .chain(names.into_iter().map(|(_, n)| n))
        .collect()
}

fn unknown(name: &str) -> LookupError {
    LookupError::Unknown {
        name: name.to_string(),
        available: available(),
    }
}

/// Index of the interface called `name`, if there is one.
pub fn index_of(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// Finds the interface called `name` (`any` for all) and checks it is up.
pub fn lookup(name: &str) -> Result<Interface, LookupError> {
    if name == ANY {
        return Ok(Interface {
            name: ANY.to_string(),
            index: 0,
            hatype: None,
        });
    }
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['\0', '/']) {
        return Err(unknown(name));
    }
    let index = index_of(name).ok_or_else(|| unknown(name))?;
    let io_err = |error| LookupError::Io {
        name: name.to_string(),
        error,
    };
    let sock = ioctl_socket().map_err(io_err)?;
    let mut req = ifreq(name);
    // SAFETY: `req` is a properly initialised ifreq naming the interface; the kernel writes the
    // hardware address into its union.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } < 0 {
        let e = io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::ENODEV) {
            unknown(name)
        } else {
            io_err(e)
        });
    }
    // SAFETY: SIOCGIFHWADDR filled `ifru_hwaddr`.
    let hatype = unsafe { req.ifr_ifru.ifru_hwaddr.sa_family };
    let mut req = ifreq(name);
    // SAFETY: as above; the kernel writes the flags into the union.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io_err(io::Error::last_os_error()));
    }
    // SAFETY: SIOCGIFFLAGS filled `ifru_flags`.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if i32::from(flags) & libc::IFF_UP == 0 {
        return Err(LookupError::Down {
            name: name.to_string(),
        });
    }
    Ok(Interface {
        name: name.to_string(),
        index,
        hatype: Some(hatype),
    })
}

/// Index of the loopback device, whose outgoing copies are filtered out (every loopback packet
/// is seen leaving and arriving; libpcap keeps only the arrival).
pub fn loopback_index(iface: &Interface) -> Option<u32> {
    match iface.hatype {
        Some(ARPHRD_LOOPBACK) => Some(iface.index),
        None => index_of("lo"),
        Some(_) => None,
    }
}

fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before being owned.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_follows_the_device_type() {
        assert_eq!(framing_for(None), Framing::CookedSll2);
        assert_eq!(framing_for(Some(ARPHRD_ETHER)), Framing::Ethernet);
        assert_eq!(framing_for(Some(ARPHRD_LOOPBACK)), Framing::Ethernet);
        assert_eq!(framing_for(Some(ARPHRD_NONE)), Framing::Raw);
        assert_eq!(framing_for(Some(ARPHRD_RAWIP)), Framing::Raw);
        // PPP, tunnels, InfiniBand...: cooked, like libpcap.
        for other in [512u16, 768, 776, 778, 32] {
            assert_eq!(framing_for(Some(other)), Framing::CookedSll2);
        }
        assert_eq!(link_type_for(Framing::CookedSll2), LinkType::LINUX_SLL2);
        assert_eq!(link_type_for(Framing::Ethernet), LinkType::ETHERNET);
        assert_eq!(link_type_for(Framing::Raw), LinkType::RAW);
    }

    #[test]
    fn loopback_is_found_and_described() {
        let lo = lookup("lo").expect("every namespace has lo");
        assert_eq!(lo.hatype, Some(ARPHRD_LOOPBACK));
        assert_eq!(lo.link_type(), LinkType::ETHERNET);
        assert_eq!(loopback_index(&lo), Some(lo.index));
        let any = lookup(ANY).unwrap();
        assert!(any.is_any());
        assert_eq!(loopback_index(&any), Some(lo.index));
    }

    #[test]
    fn unknown_names_list_what_exists() {
        for bad in ["nosuchif0", "", "a/b", "x\0y", "waytoolonginterfacename"] {
            match lookup(bad) {
                Err(LookupError::Unknown { available, .. }) => {
                    assert_eq!(available.first().map(String::as_str), Some(ANY));
                    assert!(available.iter().any(|n| n == "lo"), "{available:?}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let msg = unknown("nosuchif0").to_string();
        assert!(
            msg.starts_with("nosuchif0: no such interface; available: any, "),
            "{msg}"
        );
    }
}
