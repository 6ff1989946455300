//! The NSS key log format (as written by browsers, curl, OpenSSL's `SSL_CTX_set_keylog_callback`,
//! node `--tls-keylog`, Python `keylog_filename`, and carried in pcapng Decryption Secrets
//! Blocks): a store of session secrets keyed by client random, a line parser, a whole-file
//! reader and an incremental reader that picks up lines appended while it runs.
//!
//! Promise: no input panics or grows memory without bound. Lines longer than [`MAX_LINE`] are
//! skipped whole; the store holds at most its limit of sessions (further sessions are counted
//! and dropped); comments (`#`), blank lines, CRLF endings, unknown labels and bad hex are
//! counted in [`KeyLogStats`] and otherwise ignored, line by line.

use super::crypto::Secret;
use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Longest line considered: the longest real line (a 48-byte secret, 64-hex client random and
/// the longest label) is under 200 bytes.
pub const MAX_LINE: usize = 1024;

/// Default number of sessions kept (about 400 bytes each, so ~40 MB at most).
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// What the key log knows about one TLS session (one client random).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionSecrets {
    /// `CLIENT_RANDOM`: the TLS 1.2 (and earlier) master secret.
    pub master: Option<Secret>,
    /// `CLIENT_EARLY_TRAFFIC_SECRET` (TLS 1.3 0-RTT).
    pub client_early: Option<Secret>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Secret>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Secret>,
    /// `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic: Option<Secret>,
    /// `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic: Option<Secret>,
}

/// The labels of the format and what we do with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    ClientRandom,
    ClientEarlyTrafficSecret,
    ClientHandshakeTrafficSecret,
    ServerHandshakeTrafficSecret,
    ClientTrafficSecret0,
    ServerTrafficSecret0,
    /// `EXPORTER_SECRET`, `EARLY_EXPORTER_SECRET`, `EARLY_EXPORTER_MASTER_SECRET`: valid, not
    /// needed to decrypt.
    Exporter,
}

impl Label {
    fn parse(s: &[u8]) -> Option<Label> {
        Some(match s {
            b"CLIENT_RANDOM" => Label::ClientRandom,
            b"CLIENT_EARLY_TRAFFIC_SECRET" => Label::ClientEarlyTrafficSecret,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshakeTrafficSecret,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshakeTrafficSecret,
            b"CLIENT_TRAFFIC_SECRET_0" => Label::ClientTrafficSecret0,
            b"SERVER_TRAFFIC_SECRET_0" => Label::ServerTrafficSecret0,
            b"EXPORTER_SECRET" | b"EARLY_EXPORTER_SECRET" | b"EARLY_EXPORTER_MASTER_SECRET" => {
                Label::Exporter
            }
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Label::ClientRandom => "CLIENT_RANDOM",
            Label::ClientEarlyTrafficSecret => "CLIENT_EARLY_TRAFFIC_SECRET",
            Label::ClientHandshakeTrafficSecret => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            Label::ServerHandshakeTrafficSecret => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            Label::ClientTrafficSecret0 => "CLIENT_TRAFFIC_SECRET_0",
            Label::ServerTrafficSecret0 => "SERVER_TRAFFIC_SECRET_0",
            Label::Exporter => "EXPORTER_SECRET",
        }
    }
}

/// What became of one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineOutcome {
    /// A secret was stored (or replaced an equal one).
    Stored(Label),
    /// Valid but not needed (exporter secrets).
    Ignored,
    /// Blank or a `#` comment.
    Comment,
    /// A label we do not know (`RSA`, vendor extensions).
    UnknownLabel,
    /// Not three fields, bad hex, wrong lengths.
    Malformed,
    /// A new session beyond the store's limit.
    OverLimit,
    /// Longer than [`MAX_LINE`].
    TooLong,
}

/// Counts of what the key log held, for a clear message when it held nothing usable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyLogStats {
    pub lines: u64,
    pub stored: u64,
    pub ignored: u64,
    pub comments: u64,
    pub unknown_labels: u64,
    pub malformed: u64,
    pub over_limit: u64,
    pub too_long: u64,
}

/// Session secrets by client random.
#[derive(Clone, Debug)]
pub struct KeyLog {
    sessions: HashMap<[u8; 32], SessionSecrets, foldhash::fast::FixedState>,
    limit: usize,
    stats: KeyLogStats,
}

impl Default for KeyLog {
    fn default() -> Self {
        KeyLog::with_limit(DEFAULT_MAX_SESSIONS)
    }
}

fn unhex(s: &[u8], out: &mut [u8]) -> Option<usize> {
    if !s.len().is_multiple_of(2) || s.len() / 2 > out.len() {
        return None;
    }
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nib(pair[0])? << 4) | nib(pair[1])?;
    }
    Some(s.len() / 2)
}

impl KeyLog {
    pub fn new() -> KeyLog {
        KeyLog::default()
    }

    /// A store that keeps at most `limit` sessions.
    pub fn with_limit(limit: usize) -> KeyLog {
        KeyLog {
            sessions: HashMap::default(),
            limit,
            stats: KeyLogStats::default(),
        }
    }

    /// Reads a whole key log file, line by line through a fixed buffer (memory bounded by the
    /// session limit, whatever the file's size).
    pub fn read_file(path: &Path) -> io::Result<KeyLog> {
        let mut log = KeyLog::new();
        let mut file = std::fs::File::open(path)?;
        let mut lines = LineSplitter::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            lines.push(&buf[..n], &mut log);
        }
        lines.finish(&mut log);
        Ok(log)
    }

    /// Parses text holding whole lines (a file's content, a pcapng DSB); a last line without a
    /// newline counts.
    pub fn add_text(&mut self, text: &[u8]) {
        let mut lines = LineSplitter::default();
        lines.push(text, self);
        lines.finish(self);
    }

    /// Parses one line (without its `\n`; a trailing `\r` is allowed).
    pub fn add_line(&mut self, line: &[u8]) -> LineOutcome {
        let outcome = self.parse_line(line);
        let s = &mut self.stats;
        s.lines += 1;
        match outcome {
            LineOutcome::Stored(_) => s.stored += 1,
            LineOutcome::Ignored => s.ignored += 1,
            LineOutcome::Comment => s.comments += 1,
            LineOutcome::UnknownLabel => s.unknown_labels += 1,
            LineOutcome::Malformed => s.malformed += 1,
            LineOutcome::OverLimit => s.over_limit += 1,
            LineOutcome::TooLong => s.too_long += 1,
        }
        outcome
    }

    fn parse_line(&mut self, line: &[u8]) -> LineOutcome {
        if line.len() > MAX_LINE {
            return LineOutcome::TooLong;
        }
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            return LineOutcome::Comment;
        }
        let mut fields = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|f| !f.is_empty());
        let (Some(label), Some(random), Some(secret), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return LineOutcome::Malformed;
        };
        let Some(label) = Label::parse(label) else {
            return LineOutcome::UnknownLabel;
        };
        let mut cr = [0u8; 32];
        if random.len() != 64 || unhex(random, &mut cr).is_none() {
            return LineOutcome::Malformed;
        }
        let mut sec = [0u8; 48];
        let Some(n) = unhex(secret, &mut sec) else {
            return LineOutcome::Malformed;
        };
        let ok_len = match label {
            Label::ClientRandom => n == 48,
            _ => n == 32 || n == 48,
        };
        let Some(secret) = Secret::new(&sec[..n]).filter(|_| ok_len) else {
            return LineOutcome::Malformed;
        };
        if label == Label::Exporter {
            return LineOutcome::Ignored;
        }
        if !self.sessions.contains_key(&cr) && self.sessions.len() >= self.limit {
            return LineOutcome::OverLimit;
        }
        let entry = self.sessions.entry(cr).or_default();
        let slot = match label {
            Label::ClientRandom => &mut entry.master,
            Label::ClientEarlyTrafficSecret => &mut entry.client_early,
            Label::ClientHandshakeTrafficSecret => &mut entry.client_handshake,
            Label::ServerHandshakeTrafficSecret => &mut entry.server_handshake,
            Label::ClientTrafficSecret0 => &mut entry.client_traffic,
            Label::ServerTrafficSecret0 => &mut entry.server_traffic,
            Label::Exporter => return LineOutcome::Ignored,
        };
        *slot = Some(secret);
        LineOutcome::Stored(label)
    }

    /// The secrets of the session with this client random.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&SessionSecrets> {
        self.sessions.get(client_random)
    }

    /// Number of sessions held.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn stats(&self) -> KeyLogStats {
        self.stats
    }
}

/// Cuts a byte stream into lines for a [`KeyLog`], keeping at most [`MAX_LINE`] bytes of an
/// unfinished line; a longer line is skipped up to its newline.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    overlong: bool,
}

impl LineSplitter {
    /// Feeds bytes; every line completed by a `\n` goes to `log`.
    pub fn push(&mut self, mut bytes: &[u8], log: &mut KeyLog) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (line, rest) = bytes.split_at(nl);
            bytes = &rest[1..];
            if self.overlong {
                self.overlong = false;
                log.add_line(&[0; MAX_LINE + 1]);
            } else if self.partial.is_empty() {
                log.add_line(line);
            } else if self.partial.len() + line.len() > MAX_LINE {
                self.partial.clear();
                log.add_line(&[0; MAX_LINE + 1]);
            } else {
                self.partial.extend_from_slice(line);
                log.add_line(&self.partial);
                self.partial.clear();
            }
        }
        if self.overlong {
            return;
        }
        if self.partial.len() + bytes.len() > MAX_LINE {
            self.partial.clear();
            self.overlong = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// The input ended: a last line without a newline counts.
    pub fn finish(&mut self, log: &mut KeyLog) {
        if self.overlong {
            log.add_line(&[0; MAX_LINE + 1]);
        } else if !self.partial.is_empty() {
            log.add_line(&self.partial);
        }
        self.partial.clear();
        self.overlong = false;
    }

    /// Bytes of an unfinished line held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

/// Follows a key log file that another program appends to (`live`): each [`poll`](Self::poll)
/// reads what was added since the last one and stores its complete lines. A line still being
/// written waits for its newline. A file that shrank (truncated or replaced) is read again from
/// its start.
#[derive(Debug)]
pub struct KeyLogTail {
    path: PathBuf,
    offset: u64,
    lines: LineSplitter,
    buf: Vec<u8>,
}

impl KeyLogTail {
    /// Starts following `path` from its beginning. The file must exist.
    pub fn open(path: &Path) -> io::Result<KeyLogTail> {
        std::fs::metadata(path)?;
        Ok(KeyLogTail {
            path: path.to_path_buf(),
            offset: 0,
            lines: LineSplitter::default(),
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// Reads whatever was appended; returns how many lines stored a secret.
    pub fn poll(&mut self, log: &mut KeyLog) -> io::Result<u64> {
        let before = log.stats().stored;
        let mut file = std::fs::File::open(&self.path)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
            self.lines = LineSplitter::default();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        loop {
            let n = match file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.offset += n as u64;
            self.lines.push(&self.buf[..n], log);
        }
        Ok(log.stats().stored - before)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The run's key log, shared by every connection (and every worker): the `--keylog` file, the
/// secrets of the capture's Decryption Secrets Blocks as the source hands them out, and, for
/// `live`, the lines appended to the file while the capture runs (read when a session's
/// secrets are looked for and not found: a read of what was appended since, nothing when the
/// file did not grow).
#[derive(Clone, Debug, Default)]
pub struct KeyStore(Arc<Mutex<Store>>);

#[derive(Debug, Default)]
struct Store {
    log: KeyLog,
    tail: Option<KeyLogTail>,
    /// Whether any secret source was given (a file, a DSB): without one, a TLS session's
    /// missing secrets are no surprise.
    given: bool,
    /// Secrets may still come while the run goes on: a followed file, or a capture that
    /// carries secrets (pcapng writers add a Decryption Secrets Block as keys appear).
    grows: bool,
}

impl KeyStore {
    /// The secrets of a key log file, read whole.
    pub fn from_file(path: &Path) -> io::Result<KeyStore> {
        let log = KeyLog::read_file(path)?;
        Ok(KeyStore(Arc::new(Mutex::new(Store {
            log,
            given: true,
            ..Store::default()
        }))))
    }

    /// A key log file followed as it grows (`live`): read now, and again when secrets are
    /// missing.
    pub fn follow(path: &Path) -> io::Result<KeyStore> {
        let mut tail = KeyLogTail::open(path)?;
        let mut log = KeyLog::new();
        tail.poll(&mut log)?;
        Ok(KeyStore(Arc::new(Mutex::new(Store {
            log,
            tail: Some(tail),
            given: true,
            grows: true,
        }))))
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic elsewhere while holding the lock leaves a store that is still consistent
        // (each line is stored whole or not at all).
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A store of its own holding what this one holds now (a followed file is not followed
    /// by the copy): for a capture analyzed apart from others (`check`), whose own secrets
    /// must not reach them.
    pub fn fork(&self) -> KeyStore {
        let s = self.store();
        KeyStore(Arc::new(Mutex::new(Store {
            log: s.log.clone(),
            tail: None,
            given: s.given,
            grows: s.grows,
        })))
    }

    /// Adds key log text (a pcapng Decryption Secrets Block's).
    pub fn add_text(&self, text: &[u8]) {
        let mut s = self.store();
        s.given = true;
        s.grows = true;
        s.log.add_text(text);
    }

    /// Whether secrets may still come while the run goes on (a followed key log, secrets
    /// carried in the capture): then records are worth holding while their secrets are
    /// missing.
    pub fn may_grow(&self) -> bool {
        self.store().grows
    }

    /// The secrets of the session with this client random. A followed file is read again
    /// first (the session asks only when it lacks a secret: its first lookup, and after a miss):
    /// a client logs a session's secrets as its handshake derives them, one line each, often a
    /// moment after the capture saw the first records that need them, so a session the file
    /// already names (its handshake secrets) may have gained the one asked for now (its
    /// traffic secrets).
    pub fn get(&self, client_random: &[u8; 32]) -> Option<SessionSecrets> {
        let mut s = self.store();
        let Store { log, tail, .. } = &mut *s;
        if let Some(tail) = tail.as_mut() {
            // A key log that went away stays as it was read: the sessions it named still
            // decrypt, the others are reported as missing.
            let _ = tail.poll(log);
        }
        log.get(client_random).copied()
    }

    /// Whether a key log was given at all (a file or a capture's secrets).
    pub fn given(&self) -> bool {
        self.store().given
    }

    /// Sessions known.
    pub fn len(&self) -> usize {
        self.store().log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> KeyLogStats {
        self.store().log.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CR: &str = "52362c10a2665e323a2adb4b9da0c10d4a8823719272f8b4c97af24f92784812";
    const MS: &str = "9a5b4d5c7a2f6b1e0c2d4f6a8b0c1d2e3f405162738495a6b7c8d9e0f1021324\
                      35465768798a9bacbdcedf0f1e2d3c4b";

    fn cr() -> [u8; 32] {
        let mut out = [0; 32];
        unhex(CR.as_bytes(), &mut out);
        out
    }

    #[test]
    fn parses_every_label_and_tolerates_noise() {
        let s32 = "a".repeat(64);
        let s48 = "b".repeat(96);
        let text = format!(
            "# SSL/TLS secrets log file, generated by NSS\r\n\
             \r\n\
             CLIENT_RANDOM {CR} {MS}\r\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {s32}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET  {CR}\t{s32}\n\
             CLIENT_TRAFFIC_SECRET_0 {CR} {s48}\n\
             SERVER_TRAFFIC_SECRET_0 {CR} {s48}\n\
             CLIENT_EARLY_TRAFFIC_SECRET {CR} {s32}\n\
             EXPORTER_SECRET {CR} {s32}\n\
             RSA 0011223344556677 {s48}\n\
             CLIENT_RANDOM {CR}\n\
             CLIENT_RANDOM {CR} zz{}\n\
             CLIENT_RANDOM 1234 {MS}\n\
             CLIENT_RANDOM {CR} {s32}\n\
             SERVER_TRAFFIC_SECRET_0 {CR} {s48} extra\n\
             CLIENT_TRAFFIC_SECRET_0 {CR} {s48}",
            &MS[2..]
        );
        let mut log = KeyLog::new();
        log.add_text(text.as_bytes());
        let st = log.stats();
        assert_eq!(st.lines, 16);
        assert_eq!(st.comments, 2);
        assert_eq!(st.stored, 7);
        assert_eq!(st.ignored, 1);
        assert_eq!(st.unknown_labels, 1);
        assert_eq!(st.malformed, 5);
        assert_eq!(log.len(), 1);
        let s = log.get(&cr()).expect("session");
        assert_eq!(s.master.map(|m| m.as_bytes().len()), Some(48));
        assert_eq!(s.client_handshake.map(|m| m.as_bytes()[0]), Some(0xaa));
        assert_eq!(s.server_traffic.map(|m| m.as_bytes().len()), Some(48));
        assert!(s.client_early.is_some() && s.server_handshake.is_some());
        assert!(log.get(&[0; 32]).is_none());
    }

    #[test]
    fn long_lines_are_skipped_whole_and_bounded() {
        let mut log = KeyLog::new();
        let mut lines = LineSplitter::default();
        lines.push(b"CLIENT_RANDOM ", &mut log);
        for _ in 0..100 {
            lines.push(&[b'a'; 1000], &mut log);
            assert!(lines.pending() <= MAX_LINE);
        }
        lines.push(format!("\nCLIENT_RANDOM {CR} {MS}\n").as_bytes(), &mut log);
        lines.finish(&mut log);
        assert_eq!(log.stats().too_long, 1);
        assert_eq!(log.stats().stored, 1);
    }

    #[test]
    fn sessions_are_capped() {
        let mut log = KeyLog::with_limit(2);
        for i in 0..4u8 {
            let line = format!("CLIENT_RANDOM {:02x}{} {MS}", i, &CR[2..]);
            log.add_line(line.as_bytes());
        }
        // A known session may still be completed.
        log.add_line(
            format!("CLIENT_TRAFFIC_SECRET_0 00{} {}", &CR[2..], "c".repeat(64)).as_bytes(),
        );
        assert_eq!(log.len(), 2);
        assert_eq!(log.stats().over_limit, 2);
        assert_eq!(log.stats().stored, 3);
    }

    #[test]
    fn tail_picks_up_appended_lines_and_waits_for_newlines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.log");
        std::fs::write(&path, "# start\n").expect("write");
        let mut tail = KeyLogTail::open(&path).expect("open");
        let mut log = KeyLog::new();
        assert_eq!(tail.poll(&mut log).expect("poll"), 0);
        let line = format!("CLIENT_RANDOM {CR} {MS}\n");
        let (a, b) = line.split_at(40);
        let append = |s: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("append");
            f.write_all(s.as_bytes()).expect("write");
        };
        append(a);
        assert_eq!(tail.poll(&mut log).expect("poll"), 0);
        assert!(log.is_empty());
        append(b);
        assert_eq!(tail.poll(&mut log).expect("poll"), 1);
        assert!(log.get(&cr()).is_some());
        // Truncated and rewritten: read again from the start.
        std::fs::write(
            &path,
            format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {}\n", "d".repeat(64)),
        )
        .expect("rewrite");
        assert_eq!(tail.poll(&mut log).expect("poll"), 1);
        assert!(log.get(&cr()).and_then(|s| s.client_handshake).is_some());
    }

    #[test]
    fn a_followed_key_log_is_read_again_when_secrets_are_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.log");
        std::fs::write(&path, "# written by a browser\n").expect("write");
        let store = KeyStore::follow(&path).expect("follow");
        let shared = store.clone();
        assert!(store.get(&cr()).is_none());
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("append");
            writeln!(f, "CLIENT_RANDOM {CR} {MS}").expect("write");
        }
        // The next lookup finds the line, and every clone of the store (every worker) sees it.
        assert!(shared.get(&cr()).and_then(|s| s.master).is_some());
        assert!(store.get(&cr()).is_some());
        assert_eq!(store.len(), 1);
        // A session already named gains the secrets logged after it: a TLS 1.3 client logs
        // its handshake secrets first, its traffic secrets once its handshake is done.
        let later = |label: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("append");
            writeln!(f, "{label} {CR} {}", "e".repeat(64)).expect("write");
        };
        later("SERVER_HANDSHAKE_TRAFFIC_SECRET");
        let named = store.get(&cr()).expect("named");
        assert!(named.server_handshake.is_some() && named.client_traffic.is_none());
        later("CLIENT_TRAFFIC_SECRET_0");
        assert!(shared.get(&cr()).and_then(|s| s.client_traffic).is_some());
        // A file read whole is not followed.
        let whole = KeyStore::from_file(&path).expect("read");
        assert!(whole.given() && whole.get(&cr()).is_some());
        assert!(!KeyStore::default().given());
    }

    #[test]
    fn read_file_matches_add_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        let text = format!("CLIENT_RANDOM {CR} {MS}\r\n# c\n");
        std::fs::write(&path, &text).expect("write");
        let from_file = KeyLog::read_file(&path).expect("read");
        let mut from_text = KeyLog::new();
        from_text.add_text(text.as_bytes());
        assert_eq!(from_file.stats(), from_text.stats());
        assert_eq!(from_file.get(&cr()), from_text.get(&cr()));
    }
}
