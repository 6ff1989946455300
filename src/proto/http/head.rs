//! Parsing one HTTP/1.x message head (start line and field lines) with httparse, as real
//! recipients do (RFC 9112 §2.2, §3, §4, §5):
//!
//! - **Fast path.** A well-formed head is parsed in place, with field slots on the stack; no
//!   allocation. A head with more fields than the stack holds is parsed again with a reusable
//!   slot array sized by its line count: the number of fields is bounded only by the head-size
//!   cap, never by a fixed count.
//! - **Repairs** (the slow path, taken only when the strict parse fails). Two things real peers
//!   send are repaired in a copy of the head of exactly the same length, so that every offset,
//!   `header_bytes` and the hex dump stay those of the wire: obs-fold (RFC 9112 §5.2: each fold,
//!   the line break before a line starting with SP or HTAB, becomes spaces) and whitespace
//!   between a field name and its colon (RFC 9112 §5.1: the colon moves left, the whitespace
//!   follows it as OWS). Each repair is counted in [`Repairs`] for the caller to report.
//! - **Errors** name the offending byte: a head that still does not parse is located by
//!   bisection over its prefixes (httparse fails at the first bad byte and is monotone in its
//!   input), so the caller can quote the offending line and its offset.
//! - **Cut heads.** [`parse_cut`] reports what a head that will never be completed (cut by a gap,
//!   the snaplen, or the end of the stream) holds: the start line and the whole field lines.
//!
//! Nothing here panics or trusts a length; all buffers are reused and released by the caller
//! when they grew large.

use crate::model::{Header, HttpHead};
use crate::tcp::Dir;
use std::mem::{self, MaybeUninit};

/// Field slots on the stack: enough for every head seen in practice.
const STACK_FIELDS: usize = 64;
/// Slot arrays larger than this are released after use instead of kept.
const KEEP_SLOTS: usize = 1024;

/// What the lenient pass changed so that a head parses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Repairs {
    /// obs-fold line breaks replaced by spaces, and the offset of the first folded line.
    pub folds: u32,
    pub first_fold: usize,
    /// Fields with whitespace between name and colon, and the offset of the first such line.
    pub spaced: u32,
    pub first_spaced: usize,
}

impl Repairs {
    pub fn any(&self) -> bool {
        self.folds > 0 || self.spaced > 0
    }
}

/// A parsed head.
#[derive(Clone, Copy, Debug)]
pub(super) struct ParsedHead<'b> {
    /// Length of the head, blank line included.
    pub len: usize,
    pub head: HttpHead<'b>,
    /// The bytes the start line and headers borrow from: the input, or its repaired copy (same
    /// length, same offsets).
    pub parsed_from: &'b [u8],
    pub repairs: Repairs,
}

/// Bytes that are not an HTTP/1.x head: why, and the offset of the offending byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HeadError {
    pub what: &'static str,
    pub at: usize,
}

/// The parser's reusable storage: field slots for heads larger than the stack array, and the
/// repaired copy of a head.
#[derive(Debug, Default)]
pub(super) struct HeadParser {
    config: httparse::ParserConfig,
    slots: Vec<MaybeUninit<httparse::Header<'static>>>,
    repaired: Vec<u8>,
}

impl HeadParser {
    /// Takes the repair buffer out, so that headers can borrow from it while the connection is
    /// borrowed mutably; give it back with [`HeadParser::put_repaired`].
    pub fn take_repaired(&mut self) -> Vec<u8> {
        mem::take(&mut self.repaired)
    }

    /// Bytes the reusable storage holds, for the memory budget.
    pub fn held(&self) -> usize {
        crate::budget::vec_bytes::<MaybeUninit<httparse::Header<'static>>>(self.slots.capacity())
            + self.repaired.capacity()
    }

    /// Gives the reusable storage back (the memory budget ran short); it grows again when a
    /// head needs it.
    pub fn release(&mut self) {
        self.slots = Vec::new();
        self.repaired = Vec::new();
    }

    pub fn put_repaired(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if buf.capacity() > super::KEEP_CAPACITY {
            buf = Vec::new();
        }
        self.repaired = buf;
    }

    /// Parses a request (client side) or response (server side) head at the start of `buf`
    /// into `out`. `Ok(None)`: the head is incomplete (and nothing seen so far is wrong).
    /// `repaired` is scratch space the result may borrow from.
    pub fn parse<'b>(
        &mut self,
        dir: Dir,
        buf: &'b [u8],
        repaired: &'b mut Vec<u8>,
        out: &mut Vec<Header<'b>>,
    ) -> Result<Option<ParsedHead<'b>>, HeadError> {
        match self.strict(dir, buf, out) {
            Ok(found) => return Ok(found.map(|(len, head)| parsed(len, head, buf))),
            Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {}
            Err(e) => return Err(self.locate(dir, buf, e)),
        }
        repaired.clear();
        repaired.extend_from_slice(buf);
        let repairs = repair(repaired);
        let fixed: &'b [u8] = repaired;
        let result = if repairs.any() {
            self.strict(dir, fixed, out)
        } else {
            Err(httparse::Error::HeaderName)
        };
        match result {
            Ok(found) => Ok(found.map(|(len, head)| ParsedHead {
                repairs,
                ..parsed(len, head, fixed)
            })),
            Err(e) => {
                let e = self.locate(dir, fixed, e);
                if repairable_so_far(fixed, e.at) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// httparse with the default (strict) configuration; stack slots first, then slots for
    /// every line of `buf`.
    fn strict<'b>(
        &mut self,
        dir: Dir,
        buf: &'b [u8],
        out: &mut Vec<Header<'b>>,
    ) -> Result<Option<(usize, HttpHead<'b>)>, httparse::Error> {
        let mut stack = [const { MaybeUninit::<httparse::Header<'b>>::uninit() }; STACK_FIELDS];
        match parse_into(dir, &self.config, buf, &mut stack, out) {
            Err(httparse::Error::TooManyHeaders) => {}
            other => return other,
        }
        // Every field takes a line of its own: one slot per line is always enough.
        let lines = memchr::memchr_iter(b'\n', buf).count().saturating_add(1);
        let mut slots = recycle(mem::take(&mut self.slots));
        slots.resize_with(lines, MaybeUninit::uninit);
        let result = parse_into(dir, &self.config, buf, &mut slots, out);
        self.slots = if slots.capacity() > KEEP_SLOTS {
            Vec::new()
        } else {
            recycle(slots)
        };
        result
    }

    /// Where `buf` stops being a head: the smallest prefix that already fails to parse ends
    /// with the offending byte.
    fn locate(&mut self, dir: Dir, buf: &[u8], e: httparse::Error) -> HeadError {
        let mut scratch = Vec::new();
        let (mut good, mut bad) = (0usize, buf.len());
        while bad - good > 1 {
            let mid = good + (bad - good) / 2;
            match self.strict(dir, buf.get(..mid).unwrap_or_default(), &mut scratch) {
                Err(_) => bad = mid,
                Ok(_) => good = mid,
            }
        }
        HeadError {
            what: describe(e),
            at: bad.saturating_sub(1),
        }
    }
}

fn parsed<'b>(len: usize, head: HttpHead<'b>, from: &'b [u8]) -> ParsedHead<'b> {
    ParsedHead {
        len,
        head,
        parsed_from: from,
        repairs: Repairs::default(),
    }
}

fn parse_into<'b>(
    dir: Dir,
    config: &httparse::ParserConfig,
    buf: &'b [u8],
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    out: &mut Vec<Header<'b>>,
) -> Result<Option<(usize, HttpHead<'b>)>, httparse::Error> {
    out.clear();
    let (len, head, headers) = match dir {
        Dir::C2S => {
            let mut req = httparse::Request::new(&mut []);
            let httparse::Status::Complete(len) =
                config.parse_request_with_uninit_headers(&mut req, buf, slots)?
            else {
                return Ok(None);
            };
            let head = HttpHead::Request {
                method: req.method.unwrap_or_default(),
                target: req.path.unwrap_or_default(),
                version: req.version.unwrap_or(1),
            };
            (len, head, req.headers)
        }
        Dir::S2C => {
            let mut res = httparse::Response::new(&mut []);
            let httparse::Status::Complete(len) =
                config.parse_response_with_uninit_headers(&mut res, buf, slots)?
            else {
                return Ok(None);
            };
            let head = HttpHead::Response {
                version: res.version.unwrap_or(1),
                status: res.code.unwrap_or(0),
                reason: res.reason.unwrap_or_default(),
            };
            (len, head, res.headers)
        }
    };
    out.extend(headers.iter().map(|h| Header {
        name: h.name,
        value: h.value,
    }));
    Ok(Some((len, head)))
}

// The element type changes lifetime only; on an empty vector `filter_map` yields nothing and
// the standard library collects in place, keeping the allocation.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'x, 'y>(
    mut v: Vec<MaybeUninit<httparse::Header<'x>>>,
) -> Vec<MaybeUninit<httparse::Header<'y>>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header field name",
        httparse::Error::HeaderValue => "invalid header field value",
        httparse::Error::Token => "invalid token in the start line",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::TooManyHeaders => "too many header fields",
    }
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Repairs, in place and without changing its length, the field lines of the head at the start
/// of `buf` (it may be incomplete): obs-fold and whitespace before a colon. Lines it cannot make
/// valid are left for httparse to reject.
fn repair(buf: &mut [u8]) -> Repairs {
    let mut r = Repairs::default();
    let Some(first_nl) = memchr::memchr(b'\n', buf) else {
        return r;
    };
    let mut pos = first_nl + 1;
    let mut after_field = false;
    while let Some(rel) = buf.get(pos..).and_then(|rest| memchr::memchr(b'\n', rest)) {
        let nl = pos + rel;
        let content_end = if nl > pos && buf.get(nl - 1) == Some(&b'\r') {
            nl - 1
        } else {
            nl
        };
        if content_end == pos {
            break; // the blank line: the head ends
        }
        let first = buf.get(pos).copied().unwrap_or(0);
        if is_ws(first) {
            // A continuation line (RFC 9112 §5.2). Before the first field it is not a fold
            // (§2.2): left for httparse to reject.
            if !after_field {
                break;
            }
            unfold(buf, pos);
            if r.folds == 0 {
                r.first_fold = pos;
            }
            r.folds = r.folds.saturating_add(1);
        } else {
            let line = buf.get(pos..content_end).unwrap_or_default();
            if let Some(colon) = memchr::memchr(b':', line) {
                let name = line.get(..colon).unwrap_or_default();
                let mut end = name.len();
                while end > 0 && name.get(end - 1).is_some_and(|&b| is_ws(b)) {
                    end -= 1;
                }
                let token = name.get(..end).unwrap_or_default();
                if end < name.len() && !token.is_empty() && token.iter().all(|&b| is_tchar(b)) {
                    // "Name  : v" becomes "Name:   v": the whitespace is now OWS.
                    if let Some(span) = buf.get_mut(pos + end..=pos + colon) {
                        span.fill(b' ');
                        span[0] = b':';
                    }
                    if r.spaced == 0 {
                        r.first_spaced = pos;
                    }
                    r.spaced = r.spaced.saturating_add(1);
                }
            }
            after_field = true;
        }
        pos = nl + 1;
    }
    r
}

/// Whether the offending byte at `at` lies in the last, unfinished line of `buf`, and that line
/// may still become one [`repair`] fixes once it is complete: a continuation line, or a field
/// name followed by whitespace (and perhaps the colon).
fn repairable_so_far(buf: &[u8], at: usize) -> bool {
    let Some(after) = buf.get(at..) else {
        return false;
    };
    if memchr::memchr(b'\n', after).is_some() {
        return false;
    }
    let start = memchr::memrchr(b'\n', buf.get(..at).unwrap_or_default()).map_or(0, |p| p + 1);
    if start == 0 {
        return false; // the start line
    }
    let line = buf.get(start..).unwrap_or_default();
    if line.first().is_some_and(|&b| is_ws(b)) {
        return true;
    }
    let name = line.iter().take_while(|&&b| is_tchar(b)).count();
    let rest = line.get(name..).unwrap_or_default();
    let ws = rest.iter().take_while(|&&b| is_ws(b)).count();
    name > 0 && ws > 0 && rest.get(ws).is_none_or(|&b| b == b':' || b == b'\r')
}

/// Replaces the fold ending just before `line_start` with spaces: the line break (CRLF or LF)
/// and the whitespace that begins the continuation line (RFC 9112 §5.2: `obs-fold = OWS CRLF
/// RWS`).
fn unfold(buf: &mut [u8], line_start: usize) {
    for b in buf.iter_mut().skip(line_start).take_while(|b| is_ws(**b)) {
        *b = b' ';
    }
    let Some(lf) = line_start.checked_sub(1) else {
        return;
    };
    if let Some(b) = buf.get_mut(lf) {
        *b = b' ';
    }
    if let Some(cr) = lf.checked_sub(1)
        && buf.get(cr) == Some(&b'\r')
        && let Some(b) = buf.get_mut(cr)
    {
        *b = b' ';
    }
}

/// What a head that will never be completed holds, when its start line is usable.
pub(super) struct CutHead<'b> {
    pub head: HttpHead<'b>,
    pub parsed_from: &'b [u8],
    pub repairs: Repairs,
}

/// Parses the beginning of a head that was cut (`buf` holds everything seen of it): the start
/// line, completed if only its tail is missing (the reason phrase, the end of the version), and
/// every whole field line. `None` when not even the method and target, or the version and
/// status code, are there, or when what is there is not HTTP. `scratch` and `repaired` are
/// space the result borrows from.
pub(super) fn parse_cut<'b>(
    parser: &mut HeadParser,
    dir: Dir,
    buf: &[u8],
    scratch: &'b mut Vec<u8>,
    repaired: &'b mut Vec<u8>,
    out: &mut Vec<Header<'b>>,
) -> Option<CutHead<'b>> {
    scratch.clear();
    match memchr::memrchr(b'\n', buf) {
        Some(nl) => scratch.extend_from_slice(buf.get(..=nl).unwrap_or_default()),
        None => complete_start_line(dir, buf, scratch)?,
    }
    scratch.extend_from_slice(b"\r\n");
    let built: &'b [u8] = scratch;
    let parsed = parser.parse(dir, built, repaired, out).ok()??;
    Some(CutHead {
        head: parsed.head,
        parsed_from: parsed.parsed_from,
        repairs: parsed.repairs,
    })
}

/// Completes a start line cut before its end into `out` (with CRLF): a status line needs its
/// version and code, a request line its method and target (a missing version is taken as
/// HTTP/1.1).
fn complete_start_line(dir: Dir, line: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match dir {
        Dir::S2C => {
            // "HTTP/1.x NNN", then nothing or a space and part of the reason.
            let version = line.get(..9)?;
            let code = line.get(9..12)?;
            let valid = version.starts_with(b"HTTP/1.")
                && version.ends_with(b" ")
                && code.iter().all(u8::is_ascii_digit)
                && line.get(12).is_none_or(|&b| b == b' ');
            if !valid {
                return None;
            }
            out.extend_from_slice(line);
        }
        Dir::C2S => {
            let mut parts = line.splitn(3, |&b| b == b' ');
            let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
            if method.is_empty() || target.is_empty() || !b"HTTP/1.1".starts_with(version) {
                return None;
            }
            out.extend_from_slice(method);
            out.push(b' ');
            out.extend_from_slice(target);
            out.extend_from_slice(b" HTTP/1.1");
        }
    }
    out.extend_from_slice(b"\r\n");
    Some(())
}
