//! How a command ends: the contract's exit codes ([`Status`]) and the one line on stderr every
//! failure ends with ([`error_line`]), operating-system errors said in plain words.

use crate::report::escape;
use std::io::{self, Write};
use std::process::ExitCode;

/// Exit status of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    Failed = 1,
    Error = 2,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// Prints the one-line error every failure ends with, operating-system errors in plain words.
/// Messages name files, interfaces and arguments as given, so the whole line is escaped: it
/// stays one line and cannot drive the terminal.
pub fn error_line(msg: impl std::fmt::Display) {
    let msg = plain_os_errors(&msg.to_string());
    let _ = writeln!(io::stderr(), "sockscope: {}", escape::esc(&msg));
}

/// Rewrites the standard library's wording of operating-system errors ("No such file or
/// directory (os error 2)") into plain words that say what to do, wherever a message quotes
/// one.
pub(crate) fn plain_os_errors(msg: &str) -> String {
    const MARK: &str = " (os error ";
    let mut out = String::new();
    let mut rest = msg;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let code = after
            .find(')')
            .and_then(|close| Some((after[..close].parse::<i32>().ok()?, close)));
        let Some((code, close)) = code else {
            out.push_str(&rest[..at + MARK.len()]);
            rest = after;
            continue;
        };
        // The description runs from the last ": " or "(" before the mark.
        let head = &rest[..at];
        let start = head
            .rfind(": ")
            .map(|i| i + 2)
            .max(head.rfind('(').map(|i| i + 1))
            .unwrap_or(0);
        out.push_str(&head[..start]);
        out.push_str(&os_error_words(code, &head[start..]));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn os_error_words(code: i32, described: &str) -> String {
    let words = match code {
        libc::ENOENT => "no such file or directory; check the name and the path",
        libc::EACCES => {
            "permission denied; check the file's permissions, or run as a user who may use it"
        }
        libc::EPERM => "operation not permitted; this needs more privilege (root or a capability)",
        libc::EISDIR => "is a directory; name a file (`sockscope check DIR` checks a directory)",
        libc::ENOTDIR => "a part of the path is not a directory; check the path",
        libc::ENOSPC => "no space left on the device; free some space or write elsewhere",
        libc::EDQUOT => "disk quota exceeded; free some space or write elsewhere",
        libc::EROFS => "the file system is read-only; write elsewhere",
        libc::EMFILE | libc::ENFILE => "too many open files; raise the limit (ulimit -n)",
        libc::ENAMETOOLONG => "the file name is too long",
        libc::ELOOP => "too many symbolic links in the path",
        libc::ENODEV | libc::ENXIO => "no such device; check the name (`ip link` lists them)",
        libc::ENETDOWN => "the network interface is down; bring it up (`ip link set IFACE up`)",
        libc::EIO => "input/output error: the disk or device failed",
        libc::EEXIST => "the file already exists",
        libc::EPIPE => "the reader of the output went away",
        _ => {
            let mut c = described.chars();
            return match c.next() {
                Some(first) => first.to_lowercase().chain(c).collect(),
                None => format!("system error {code}"),
            };
        }
    };
    words.to_string()
}

pub(crate) fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_are_said_in_plain_words() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        let msg = plain_os_errors(&format!("x.pcap: cannot open: {e}"));
        assert_eq!(
            msg,
            "x.pcap: cannot open: no such file or directory; check the name and the path"
        );
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert!(
            plain_os_errors(&format!("out.pcap: {e}")).starts_with("out.pcap: permission denied;")
        );
        // An error without its own words keeps the system's, without the number.
        let e = io::Error::from_raw_os_error(libc::EADDRINUSE);
        let msg = plain_os_errors(&format!("bind: {e}"));
        assert!(!msg.contains("os error"), "{msg}");
        assert!(msg.starts_with("bind: address"), "{msg}");
        let e = io::Error::from_raw_os_error(libc::ENETDOWN);
        assert_eq!(
            plain_os_errors(&format!("eth0: interface went down ({e})")),
            "eth0: interface went down (the network interface is down; bring it up \
             (`ip link set IFACE up`))"
        );
        assert_eq!(plain_os_errors("nothing to do"), "nothing to do");
        assert_eq!(plain_os_errors("odd (os error x)"), "odd (os error x)");
    }
}
