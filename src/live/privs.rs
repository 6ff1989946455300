//! Giving up privilege once the capture socket is open, before any captured byte is parsed.
//!
//! Run as root (typically through sudo), the process becomes the invoking user (`SUDO_UID` /
//! `SUDO_GID`) — or `nobody` (65534) when root ran it directly, as tcpdump drops to its own
//! user. The sequence is `setgroups([])`, `setresgid`, `setresuid`, after which it checks that
//! the ids all changed, that the supplementary groups are gone, that `setuid(0)` / `setgid(0)`
//! fail and that no capability is left, and sets `no_new_privs`. Run with file capabilities
//! instead (`setcap cap_net_raw,cap_net_admin+ep`), it clears its capability sets.
//!
//! The `-w` file is opened by the identity that will own it, as tcpdump's `-Z` does: after the
//! drop when that is the invoking user (sudo) or the running user (capabilities), before the
//! drop only when root ran sockscope itself and so owns the file ([`opens_file_before_drop`]).
//! The open socket and ring and stdout stay usable: they were opened before.

use std::io;

/// uid / gid of `nobody`, used when root runs the program without sudo.
pub const NOBODY: u32 = 65534;

/// What to become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Root: switch to this user. `invoking` is true when it is the user who ran sudo (then the
    /// `-w` file is given to them).
    SwitchUser { uid: u32, gid: u32, invoking: bool },
    /// Not root: drop whatever capabilities the binary was given.
    DropCapabilities,
}

/// Decides what to become from the effective uid and sudo's variables.
pub fn plan(euid: u32, sudo_uid: Option<&str>, sudo_gid: Option<&str>) -> Plan {
    if euid != 0 {
        return Plan::DropCapabilities;
    }
    let parse = |v: Option<&str>| v.and_then(|s| s.trim().parse::<u32>().ok());
    match (parse(sudo_uid), parse(sudo_gid)) {
        (Some(uid), Some(gid)) if uid != 0 && uid != u32::MAX && gid != u32::MAX => {
            Plan::SwitchUser {
                uid,
                gid,
                invoking: true,
            }
        }
        _ => Plan::SwitchUser {
            uid: NOBODY,
            gid: NOBODY,
            invoking: false,
        },
    }
}

/// The plan for this process.
pub fn plan_for_this_process() -> Plan {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let uid = std::env::var("SUDO_UID").ok();
    let gid = std::env::var("SUDO_GID").ok();
    plan(euid, uid.as_deref(), gid.as_deref())
}

/// Whether the `-w` file is opened before the drop: only when root ran sockscope itself (root
/// owns the file; `nobody` could create it almost nowhere). Otherwise it is opened after the
/// drop, by the user who will own it, so that it can only be a file that user could write.
pub fn opens_file_before_drop(plan: Plan) -> bool {
    matches!(
        plan,
        Plan::SwitchUser {
            invoking: false,
            ..
        }
    )
}

/// Who opens the `-w` file under `plan`, in words for messages.
pub fn file_writer(plan: Plan) -> String {
    match plan {
        Plan::SwitchUser {
            uid,
            invoking: true,
            ..
        } => format!("the user who ran sudo (uid {uid})"),
        Plan::SwitchUser {
            invoking: false, ..
        } => "root".to_string(),
        Plan::DropCapabilities => {
            // SAFETY: getuid cannot fail.
            format!("uid {}", unsafe { libc::getuid() })
        }
    }
}

/// What was done, for the verbose line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    ToUser { uid: u32, gid: u32 },
    Capabilities,
}

fn os(step: &str) -> String {
    format!("{step}: {}", io::Error::last_os_error())
}

/// Carries out `plan`. An error means the process must not go on.
pub fn drop_privileges(plan: Plan) -> Result<Dropped, String> {
    match plan {
        Plan::SwitchUser { uid, gid, .. } => switch_user(uid, gid),
        Plan::DropCapabilities => {
            clear_capabilities()?;
            no_new_privs()?;
            Ok(Dropped::Capabilities)
        }
    }
}

fn switch_user(uid: u32, gid: u32) -> Result<Dropped, String> {
    // SAFETY: each call takes plain integers or a null list of length 0; results are checked.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(os("setgroups"));
        }
        if libc::setresgid(gid, gid, gid) != 0 {
            return Err(os("setresgid"));
        }
        if libc::setresuid(uid, uid, uid) != 0 {
            return Err(os("setresuid"));
        }
    }
    verify_switched(uid, gid)?;
    no_new_privs()?;
    Ok(Dropped::ToUser { uid, gid })
}

/// Checks the switch cannot be undone.
fn verify_switched(uid: u32, gid: u32) -> Result<(), String> {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: out-pointers to live locals.
    unsafe {
        if libc::getresuid(&mut r, &mut e, &mut s) != 0 || [r, e, s] != [uid; 3] {
            return Err(format!("uids are {r}/{e}/{s} after switching to {uid}"));
        }
        if libc::getresgid(&mut r, &mut e, &mut s) != 0 || [r, e, s] != [gid; 3] {
            return Err(format!("gids are {r}/{e}/{s} after switching to {gid}"));
        }
        let groups = libc::getgroups(0, std::ptr::null_mut());
        if groups != 0 {
            return Err(format!("{groups} supplementary groups left"));
        }
        if uid != 0 && libc::setuid(0) == 0 {
            return Err("could switch back to uid 0".into());
        }
        if gid != 0 && libc::setgid(0) == 0 {
            return Err("could switch back to gid 0".into());
        }
    }
    let caps = effective_capabilities().map_err(|e| format!("reading capabilities: {e}"))?;
    if caps != 0 && uid != 0 {
        return Err(format!("capabilities {caps:#x} left after switching user"));
    }
    Ok(())
}

fn no_new_privs() -> Result<(), String> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(os("prctl(PR_SET_NO_NEW_PRIVS)"));
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The effective capability set (64 bits).
pub fn effective_capabilities() -> io::Result<u64> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header and room for two data structs, as the ABI requires.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

fn clear_capabilities() -> Result<(), String> {
    // SAFETY: prctl with integer arguments; capset with a v3 header and two zeroed data structs.
    unsafe {
        // Ambient capabilities only exist since Linux 4.3; EINVAL before that is harmless.
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        let mut header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        if libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) != 0 {
            return Err(os("capset"));
        }
    }
    match effective_capabilities() {
        Ok(0) => Ok(()),
        Ok(c) => Err(format!("capabilities {c:#x} left after clearing them")),
        Err(e) => Err(format!("reading capabilities: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_through_sudo_becomes_the_invoking_user() {
        assert_eq!(
            plan(0, Some("1000"), Some("100")),
            Plan::SwitchUser {
                uid: 1000,
                gid: 100,
                invoking: true
            }
        );
        let p = plan(0, Some("1000"), Some("100"));
        assert!(!opens_file_before_drop(p), "the file is opened as the user");
        assert_eq!(file_writer(p), "the user who ran sudo (uid 1000)");
    }

    #[test]
    fn root_without_a_usable_sudo_user_becomes_nobody() {
        let nobody = Plan::SwitchUser {
            uid: NOBODY,
            gid: NOBODY,
            invoking: false,
        };
        for (u, g) in [
            (None, None),
            (Some("0"), Some("0")),
            (Some("1000"), None),
            (Some("x"), Some("1")),
            (Some("4294967295"), Some("1")),
            (Some("-5"), Some("1")),
        ] {
            assert_eq!(plan(0, u, g), nobody, "{u:?} {g:?}");
        }
        // Root owns the file: it opens it before becoming nobody.
        assert!(opens_file_before_drop(nobody));
        assert_eq!(file_writer(nobody), "root");
    }

    #[test]
    fn non_root_only_drops_capabilities() {
        assert_eq!(
            plan(1000, Some("1000"), Some("1000")),
            Plan::DropCapabilities
        );
        assert_eq!(plan(1000, None, None), Plan::DropCapabilities);
        assert!(!opens_file_before_drop(Plan::DropCapabilities));
    }

    #[test]
    fn capabilities_are_readable() {
        // As root every capability is effective; as anyone else, typically none.
        let caps = effective_capabilities().unwrap();
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            assert_ne!(caps & (1 << 13), 0, "root without CAP_NET_RAW? {caps:#x}");
        }
    }
}
