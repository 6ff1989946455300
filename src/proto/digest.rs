//! `--digest`: the SHA-256 of each whole message payload (WebSocket messages after unmasking and
//! inflating, HTTP bodies after de-chunking), computed while the payload streams through, so
//! that a capture can be checked byte for byte against what the peers sent without keeping any
//! message in memory.
//!
//! Promises: when the option is off a [`Hasher`] is a tag and every call is a branch on it, so
//! the analysis costs nothing more; a digest is only ever reported for a payload every byte of
//! which was seen and decoded ([`Digest::Incomplete`] otherwise, never a digest of a part).

pub use crate::model::Digest;
use sha2::{Digest as _, Sha256};

/// Incremental SHA-256 of the payload in progress.
#[derive(Clone, Debug, Default)]
pub enum Hasher {
    /// Digests were not asked for.
    #[default]
    Off,
    Hashing(Box<Sha256>),
    /// Bytes were missed: this payload gets no digest.
    Spoiled,
}

impl Hasher {
    /// Bytes on the heap (the hashing state, when on), for the memory budget.
    pub fn held(&self) -> usize {
        match self {
            Hasher::Hashing(_) => crate::budget::box_bytes::<Sha256>(),
            Hasher::Off | Hasher::Spoiled => 0,
        }
    }

    pub fn new(on: bool) -> Self {
        if on {
            Hasher::Hashing(Box::default())
        } else {
            Hasher::Off
        }
    }

    pub fn is_on(&self) -> bool {
        !matches!(self, Hasher::Off)
    }

    /// Starts a new payload (keeps the allocation).
    pub fn restart(&mut self) {
        match self {
            Hasher::Off => {}
            Hasher::Hashing(h) => h.reset(),
            Hasher::Spoiled => *self = Hasher::Hashing(Box::default()),
        }
    }

    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        if let Hasher::Hashing(h) = self {
            h.update(bytes);
        }
    }

    /// Bytes of this payload will not be seen.
    pub fn spoil(&mut self) {
        if let Hasher::Hashing(_) = self {
            *self = Hasher::Spoiled;
        }
    }

    /// The payload ended (`whole`: and nothing of it is missing). The hasher is ready for the
    /// next payload.
    pub fn finish(&mut self, whole: bool) -> Digest {
        let digest = match self {
            Hasher::Off => return Digest::Off,
            Hasher::Hashing(h) if whole => Digest::Sha256(h.finalize_reset().into()),
            Hasher::Hashing(_) | Hasher::Spoiled => Digest::Incomplete,
        };
        self.restart();
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_pieces_equals_digest_of_whole() {
        let mut h = Hasher::new(true);
        h.update(b"hel");
        h.update(b"");
        h.update(b"lo");
        assert_eq!(
            h.finish(true).hex().as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        // Ready for the next payload: the empty one.
        assert_eq!(
            h.finish(true).hex().as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn spoiled_or_partial_payloads_get_no_digest() {
        let mut h = Hasher::new(true);
        h.update(b"abc");
        h.spoil();
        h.update(b"def");
        assert_eq!(h.finish(true), Digest::Incomplete);
        h.update(b"abc");
        assert_eq!(h.finish(false), Digest::Incomplete);
        h.update(b"hello");
        assert!(matches!(h.finish(true), Digest::Sha256(_)));
    }

    #[test]
    fn off_costs_nothing_and_reports_off() {
        let mut h = Hasher::new(false);
        assert!(!h.is_on());
        h.update(b"abc");
        h.spoil();
        h.restart();
        assert_eq!(h.finish(true), Digest::Off);
        assert_eq!(Digest::Off.hex(), None);
        assert_eq!(Digest::Incomplete.hex(), None);
    }
}
