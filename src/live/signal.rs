//! Ctrl-C and SIGTERM: the first one asks the capture to stop (it drains the ring, reports and
//! exits normally); the handler then reverts to the default, so a second one ends the process
//! at once if stopping ever hangs.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction is plain old data; the handler only stores to an atomic. No
        // SA_RESTART, so a blocking poll returns EINTR and the stop is seen at once.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_sets_the_flag_and_the_handler_resets() {
        install().unwrap();
        // SAFETY: raise delivers SIGTERM to this thread, whose handler only sets the flag.
        assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
        assert!(stop_requested());
        // SA_RESETHAND: the disposition is back to the default.
        // SAFETY: querying the current disposition only.
        let old = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut old);
            old.sa_sigaction
        };
        assert_eq!(old, libc::SIG_DFL);
        // SIGINT is still handled until it fires once.
        // SAFETY: as above.
        let int = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old);
            old.sa_sigaction
        };
        assert_ne!(int, libc::SIG_DFL);
    }
}
