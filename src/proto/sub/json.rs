//! Plain JSON messages (validated, no protocol semantics), and the JSON forms every JSON-based
//! decoder shares: pretty for `-V` / `--follow`, one line (cut) for summaries.

use super::{Node, Sink, SubProtocol, SubRecord};
use crate::model::sub_object::Members;
use arrayvec::ArrayString;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::HashSet;

/// Top-level keys listed per object.
const MAX_KEYS: usize = 16;

/// A valid JSON message. Validated when decoded, its top-level keys and length read in the
/// same pass (no value is built: most messages are never shown); the value itself is parsed
/// again only when a view shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonRecord {
    /// `object`, `array`, `string`, `number`, `bool` or `null`.
    pub kind: &'static str,
    /// The message's text, valid JSON.
    text: Text,
    /// The shape found by the parse, as places in the text; `None` when it is read again from
    /// the text when asked ([`Shape::scan`]): a scalar, a key written with escapes, a key past
    /// the first 64 KiB.
    spans: Option<Spans>,
}

/// An object's first keys (each once, in wire order) as byte ranges of the record's text, and
/// its number of keys or an array's length.
#[derive(Clone, Debug, PartialEq)]
struct Spans {
    keys: [(u16, u16); MAX_KEYS],
    n: u8,
    len: u32,
}

/// Bytes of text a record keeps in itself: as many as fit in the room the largest decoder's
/// record takes anyway (a `SubRecord` is as large as its largest variant).
const INLINE: usize = 248;

/// A message's text: in the record when short (most chat messages: nothing is allocated for
/// it), else on the heap. The inline variant is meant to be large: the room is there anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
enum Text {
    Inline(ArrayString<INLINE>),
    Boxed(Box<str>),
}

impl Text {
    fn new(text: &str) -> Text {
        ArrayString::from(text).map_or_else(|_| Text::Boxed(text.into()), Text::Inline)
    }

    fn as_str(&self) -> &str {
        match self {
            Text::Inline(t) => t,
            Text::Boxed(t) => t,
        }
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

/// The kind of valid JSON text, from its first byte.
fn kind_of_text(text: &str) -> &'static str {
    match text.trim_start().bytes().next() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "bool",
        Some(b'n') => "null",
        _ => "number",
    }
}

impl JsonRecord {
    /// `text` if it is valid JSON (checked without building a value); an object's keys and
    /// length, an array's length, are read in the same pass.
    ///
    /// What is valid, and the error when not, are serde_json's validation's
    /// (`IgnoredAny`): where the pass that reads the keys turns text away (it reads keys as
    /// strings, which a lone surrogate escape cannot be), the validation decides alone.
    pub fn parse(text: &str) -> Result<JsonRecord, serde_json::Error> {
        let kind = kind_of_text(text);
        let read = matches!(kind, "object" | "array")
            .then(|| Spans::read(text).ok())
            .flatten();
        let spans = match read {
            Some(spans) => spans,
            // A scalar, or text the pass that reads the keys turned away.
            None => {
                serde_json::from_str::<IgnoredAny>(text)?;
                None
            }
        };
        Ok(JsonRecord {
            kind,
            text: Text::new(text),
            spans,
        })
    }

    /// The message's text, valid JSON.
    pub fn text(&self) -> &str {
        self.text.as_str()
    }

    /// The value (the text was validated, so this does not fail but on a value nested deeper
    /// than serde_json's recursion limit, shown as null).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.text()).unwrap_or(Value::Null)
    }

    /// An object's first keys in wire order (each once, as a parsed object holds them), the
    /// members of an object or elements of an array: as the parse found them, or read again
    /// from the text without building the value. The keys are borrowed from the text unless
    /// they hold escapes.
    pub fn shape(&self) -> Shape<'_> {
        let text = self.text();
        match &self.spans {
            Some(s) => Shape {
                keys: s.keys[..usize::from(s.n)]
                    .iter()
                    .map(|&(at, len)| {
                        let (at, len) = (usize::from(at), usize::from(len));
                        Cow::Borrowed(text.get(at..at + len).unwrap_or_default())
                    })
                    .collect(),
                len: Some(s.len as usize),
            },
            None => Shape::scan(text),
        }
    }

    /// [`shape`](Self::shape) as a list and a length.
    pub fn keys_and_len(&self) -> (Vec<Cow<'_, str>>, Option<usize>) {
        let Shape { keys, len } = self.shape();
        (keys.into_vec(), len)
    }

    /// The `sub` fields: `type`, the first keys, the length (the value itself is not
    /// repeated: the message preview carries it).
    pub(super) fn members<'m>(&'m self, shape: &'m Shape<'_>, m: &mut Members<'m>) {
        m.str("type", self.kind);
        m.strs("keys", &shape.keys);
        m.opt_uint("len", shape.len);
    }

    pub fn summary_at(&self, w: usize) -> String {
        one_line(&self.value(), wide(w))
    }

    pub fn details(&self) -> Vec<Node> {
        vec![Node::json("Value", &self.value())]
    }
}

/// What [`JsonRecord::shape`] reads of a value: an object's distinct keys in order of first
/// appearance (up to `MAX_KEYS` of them) and their number, or an array's length; nothing of
/// a scalar.
#[derive(Default)]
pub struct Shape<'de> {
    pub keys: SmallVec<[Cow<'de, str>; MAX_KEYS]>,
    pub len: Option<usize>,
}

/// An object's distinct keys, in order of first appearance: a key written twice counts
/// once, at its first place; past a few keys, a set says which were seen.
#[derive(Default)]
struct KeySet<'t> {
    keys: SmallVec<[Cow<'t, str>; 2 * MAX_KEYS]>,
    seen: Option<HashSet<Cow<'t, str>>>,
}

impl<'t> KeySet<'t> {
    fn add(&mut self, key: Cow<'t, str>) {
        let new = match &mut self.seen {
            Some(seen) => seen.insert(key.clone()),
            None => !self.keys.contains(&key),
        };
        if new {
            self.keys.push(key);
            if self.seen.is_none() && self.keys.len() > 2 * MAX_KEYS {
                self.seen = Some(self.keys.iter().cloned().collect());
            }
        }
    }
}

impl<'t> Shape<'t> {
    /// The shape of `text`, which is valid JSON (a record's text was checked when it was
    /// decoded), read in one pass over its bytes: top-level keys and members are found by
    /// skipping each value whole (strings to their closing quote, containers to their closing
    /// bracket), nothing is built. On text that is not JSON it stops early, never fails.
    fn scan(text: &'t str) -> Shape<'t> {
        let b = text.as_bytes();
        let i = skip_ws(b, 0);
        match b.get(i) {
            Some(b'{') => {
                let KeySet { keys, .. } = Shape::object(text, i + 1);
                Shape {
                    len: Some(keys.len()),
                    keys: keys.into_iter().take(MAX_KEYS).collect(),
                }
            }
            Some(b'[') => Shape {
                keys: SmallVec::new(),
                len: Some(elements(b, i + 1)),
            },
            _ => Shape::default(),
        }
    }

    /// The keys of the object whose first byte after `{` is at `i`.
    fn object(text: &'t str, mut i: usize) -> KeySet<'t> {
        let b = text.as_bytes();
        let mut keys = KeySet::default();
        loop {
            i = skip_ws(b, i);
            if b.get(i) != Some(&b'"') {
                break;
            }
            let end = string_end(b, i + 1);
            let key = key_text(text, i, end);
            i = skip_ws(b, end);
            if b.get(i) != Some(&b':') {
                break;
            }
            i = skip_value(b, skip_ws(b, i + 1));
            keys.add(key);
            i = skip_ws(b, i);
            if b.get(i) != Some(&b',') {
                break;
            }
            i += 1;
        }
        keys
    }
}

impl Spans {
    /// Validates `text` (an object or an array) with serde_json and reads its keys or length
    /// in the same pass; `Ok(None)` when valid but the shape is left to be read again from the
    /// text ([`Shape::scan`]): a key holds escapes, lies past the first 64 KiB, or there are
    /// more than `MAX_KEYS` distinct keys (their number needs a set).
    fn read(text: &str) -> Result<Option<Spans>, serde_json::Error> {
        use serde::Deserializer as _;
        let mut de = serde_json::Deserializer::from_str(text);
        let mut found = Found {
            text,
            spans: Some(Spans {
                keys: [(0, 0); MAX_KEYS],
                n: 0,
                len: 0,
            }),
        };
        (&mut de).deserialize_any(&mut found)?;
        de.end()?;
        Ok(found.spans)
    }

    /// Adds `key` (of `text`) unless it is there already; `false` when it cannot be kept.
    fn add(&mut self, text: &str, key: &str) -> bool {
        let n = usize::from(self.n);
        let b = text.as_bytes();
        let seen = self.keys[..n].iter().any(|&(at, len)| {
            let (at, len) = (usize::from(at), usize::from(len));
            len == key.len() && b.get(at..at + len) == Some(key.as_bytes())
        });
        if seen {
            return true;
        }
        let at = (key.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        match (u16::try_from(at), u16::try_from(key.len())) {
            (Ok(at), Ok(len)) if n < MAX_KEYS && usize::from(at) < text.len() => {
                self.keys[n] = (at, len);
                self.n += 1;
                self.len += 1;
                true
            }
            _ => false,
        }
    }
}

/// The validating pass over the top-level value: an object's keys as places in the text, an
/// array's elements counted; `spans` is `None` once what is read cannot be kept.
struct Found<'t> {
    text: &'t str,
    spans: Option<Spans>,
}

/// A JSON object's key as serde_json reads it: borrowed from the text unless it holds escapes
/// (read by this module's validating pass and by the choice by content, `select`).
pub(super) struct Key<'t>(pub(super) Cow<'t, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The top-level value: an object's keys, an array's elements counted, every value below
/// them skipped as serde_json's validation skips it.
impl<'de> Visitor<'de> for &mut Found<'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object or an array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            map.next_value::<IgnoredAny>()?;
            let kept = match (&mut self.spans, &key) {
                (Some(spans), Cow::Borrowed(key)) => spans.add(self.text, key),
                _ => false,
            };
            if !kept {
                self.spans = None;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0usize;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        match (&mut self.spans, u32::try_from(n)) {
            (Some(spans), Ok(n)) => spans.len = n,
            _ => self.spans = None,
        }
        Ok(())
    }

    // A scalar at the top is not read here (`JsonRecord::parse` reads only texts that start
    // an object or an array); were one met, serde's default answer is an error, and `parse`
    // then validates the text as it validates scalars.
}

/// The elements of the array whose first byte after `[` is at `i`.
fn elements(b: &[u8], mut i: usize) -> usize {
    i = skip_ws(b, i);
    if matches!(b.get(i), None | Some(b']')) {
        return 0;
    }
    let mut n = 0;
    loop {
        i = skip_ws(b, skip_value(b, i));
        n += 1;
        if b.get(i) != Some(&b',') {
            return n;
        }
        i = skip_ws(b, i + 1);
    }
}

/// The key whose opening quote is at `open` and whose string ends before `end` (after its
/// closing quote): borrowed from the text, or read by serde_json when it holds escapes.
fn key_text(text: &str, open: usize, end: usize) -> Cow<'_, str> {
    let raw = text
        .get(open + 1..end.saturating_sub(1))
        .unwrap_or_default();
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let quoted = text.get(open..end).unwrap_or_default();
    Cow::Owned(serde_json::from_str::<String>(quoted).unwrap_or_default())
}

/// The first byte from `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Just after the closing quote of the string whose contents start at `i`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    while let Some(at) = b
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        if b[i + at] == b'"' {
            return i + at + 1;
        }
        // An escape: the next byte is escaped (`\"`, `\\`, ...).
        i += at + 2;
    }
    b.len()
}

/// Just after the value that starts at `i`: a string, a whole container, or a scalar.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i + 1),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(&c) = b.get(j) {
                j += 1;
                match c {
                    b'"' => j = string_end(b, j),
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j;
                        }
                    }
                    _ => {}
                }
            }
            j
        }
        _ => {
            let mut j = i;
            while !matches!(
                b.get(j),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                j += 1;
            }
            j
        }
    }
}

pub(super) fn decode(sink: &mut Sink<'_>) {
    let Some(text) = sink.text(SubProtocol::Json) else {
        return;
    };
    // Where nothing is said of text that is not JSON (a connection chosen by its content),
    // text that cannot begin a JSON value is passed over without serde_json, whose error
    // would be allocated only to be dropped.
    if sink.quiet && !may_be_json(text) {
        return;
    }
    match JsonRecord::parse(text) {
        Ok(r) => sink.record(SubRecord::Json(r)),
        Err(e) => sink.invalid_json(SubProtocol::Json, &e),
    }
}

/// Whether `text` begins as a JSON value may (after JSON's whitespace); when not, it is not JSON.
pub(super) fn may_be_json(text: &str) -> bool {
    let start = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .bytes()
        .next();
    matches!(
        start,
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    )
}

/// Indented, one member per line (serde_json's pretty form).
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Characters a summary gives a value (a payload, a result, an error) when it gives names and
/// ids `line` characters (`--snap-preview`, 40 by default): half as many again.
pub fn wide(line: usize) -> usize {
    line.saturating_mul(3) / 2
}

/// Compact form cut at `max` characters (with `…` when cut).
pub fn one_line(v: &Value, max: usize) -> String {
    let s = v.to_string();
    cut(&s, max)
}

/// `s` cut at `max` characters, `…` marking the cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A JSON value as a short label: strings unquoted, anything else compact.
pub fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the keys and length were when read from the parsed value.
    fn from_value(r: &JsonRecord) -> (Vec<String>, Option<usize>) {
        match r.value() {
            Value::Object(m) => (m.keys().take(MAX_KEYS).cloned().collect(), Some(m.len())),
            Value::Array(a) => (Vec::new(), Some(a.len())),
            _ => (Vec::new(), None),
        }
    }

    #[test]
    fn keys_and_length_are_those_of_the_parsed_value() {
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 35)).collect();
        let many = format!("{{{},\"k3\":0}}", many.join(","));
        for text in [
            r#"{"a":1,"b":{"c":[1,2]},"a":2,"\u0041":3,"A":4}"#,
            r#"{}"#,
            r#"[]"#,
            r#"[1,[2,3],{"x":1}]"#,
            r#""s""#,
            "1e5",
            "null",
            &many,
        ] {
            let r = JsonRecord::parse(text).unwrap();
            let (keys, len) = r.keys_and_len();
            let keys: Vec<String> = keys.into_iter().map(Cow::into_owned).collect();
            assert_eq!((keys, len), from_value(&r), "{text}");
        }
    }

    #[test]
    fn records_kind_keys_and_length() {
        let r = JsonRecord::parse(r#"{"b": 1, "a": [1, 2]}"#).unwrap();
        assert_eq!(r.kind, "object");
        assert_eq!(r.keys_and_len(), (vec!["b".into(), "a".into()], Some(2)));
        let j = serde_json::to_value(SubRecord::Json(r)).unwrap();
        assert_eq!(j["protocol"], "json");
        assert_eq!(j["type"], "object");
        assert_eq!(j["keys"], json!(["b", "a"]));
        assert!(j.get("value").is_none());
        for (text, kind) in [
            ("[1]", "array"),
            (" \"x\"", "string"),
            ("true", "bool"),
            ("null", "null"),
            ("-1.5", "number"),
        ] {
            assert_eq!(JsonRecord::parse(text).unwrap().kind, kind);
        }
        assert!(JsonRecord::parse("{\"a\":").is_err());
    }

    #[test]
    fn text_that_cannot_begin_json_is_not_json() {
        for text in [
            "ok, received your message",
            "",
            " \t\r\n",
            "\u{a0}{}",
            "+1",
            ".5",
            "'a'",
            "}",
            "<html>",
            "NaN",
        ] {
            assert!(!may_be_json(text), "{text:?}");
            assert!(JsonRecord::parse(text).is_err(), "{text:?}");
        }
        for text in [
            "{}", " [1]", "\n\"s\"", "-1", "0", "true", "false", "null", "nope", "{",
        ] {
            assert!(may_be_json(text), "{text:?}");
        }
    }

    /// JSON values of every kind, nested, with strings that need escapes.
    fn values() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-c\"\\\\{}\\[\\],:é\n\u{1}]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                proptest::collection::vec(("[a-c\"\\\\é]{0,3}", inner), 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// The scan reads the keys and length serde_json's parse gives, however the text is
        /// laid out, keys written twice or with escapes (`\u0061` for `a`) included.
        #[test]
        fn the_scan_reads_what_the_parse_gives(
            members in proptest::collection::vec(
                ("[a-c\"\\\\é]{0,2}", proptest::bool::ANY, values()), 0..40),
            top in values(),
            pretty: bool,
            space in "[ \t\r\n]{0,2}",
        ) {
            let text = |v: &Value| if pretty {
                serde_json::to_string_pretty(v).unwrap()
            } else {
                serde_json::to_string(v).unwrap()
            };
            // An object written member by member, so that a key can come twice and be escaped.
            let fields: Vec<String> = members.iter().map(|(k, escape, v)| {
                let key = if *escape {
                    k.chars().map(|c| format!("\\u{:04x}", c as u32)).collect::<String>()
                } else {
                    let quoted = serde_json::to_string(k).unwrap();
                    quoted[1..quoted.len() - 1].to_string()
                };
                format!("{space}\"{key}\"{space}:{space}{}{space}", text(v))
            }).collect();
            let object = format!("{space}{{{}}}{space}", fields.join(","));
            for t in [object, format!("{space}{}", text(&top))] {
                let r = JsonRecord::parse(&t).unwrap();
                let (keys, len) = r.keys_and_len();
                let keys: Vec<String> = keys.into_iter().map(Cow::into_owned).collect();
                proptest::prop_assert_eq!((keys, len), from_value(&r), "{}", t);
            }
        }

        /// The pass that reads the keys while validating accepts and turns away exactly what
        /// serde_json's validation does, with its error, and finds the shape the scan of the
        /// text finds: on near-JSON text (escapes, lone surrogates, keys written twice, cut
        /// short, nested).
        #[test]
        fn the_parse_validates_as_serde_json_and_reads_the_scans_shape(
            text in "[ ]?[\\[{][ \"a-c:,0-9\\[\\]{}\\\\u]{0,30}[\\]}]?|\\{ ?(\"(a|b|c|\\\\u0061|\\\\ud800|\\\\n)\" ?: ?(1|-2.5e3|\"x\"|\\[\\]|\\{\\}|null|true|\\[1,\\{\"a\":\"]\"\\}\\]) ?,){0,20}\"z\":0\\}",
        ) {
            let want = serde_json::from_str::<IgnoredAny>(&text).map_err(|e| e.to_string());
            let got = JsonRecord::parse(&text);
            proptest::prop_assert_eq!(got.as_ref().map(|_| ()).map_err(|e| e.to_string()), want.map(|_| ()));
            if let Ok(r) = got {
                let (scanned, shape) = (Shape::scan(&text), r.shape());
                proptest::prop_assert_eq!(
                    (&shape.keys[..], shape.len),
                    (&scanned.keys[..], scanned.len),
                    "{}",
                    text
                );
            }
        }

        /// On text that is not JSON the scan stops somewhere, without a panic.
        #[test]
        fn the_scan_ends_on_any_text(text in "[\\[\\]{}\",:\\\\ a1é]{0,40}") {
            let shape = Shape::scan(&text);
            proptest::prop_assert!(shape.keys.len() <= text.len());
        }

        /// Text `may_be_json` turns away is text serde_json turns away too (the content-based
        /// choice of a sub-protocol relies on it to skip the parse).
        #[test]
        fn what_cannot_begin_json_never_parses(text in "[ \t\r\n]{0,2}[ -~\u{a0}é]{0,12}") {
            if !may_be_json(&text) {
                proptest::prop_assert!(serde_json::from_str::<Value>(&text).is_err());
            }
        }
    }

    #[test]
    fn short_texts_are_kept_in_the_record_without_making_it_larger() {
        let short = JsonRecord::parse(r#"{"type":"chat"}"#).unwrap();
        assert!(matches!(short.text, Text::Inline(_)));
        let long = format!("[{}1]", "1,".repeat(INLINE));
        let long = JsonRecord::parse(&long).unwrap();
        assert!(matches!(long.text, Text::Boxed(_)));
        assert_eq!(long.text().len(), 2 * INLINE + 3);
        assert_eq!(long.shape().len, Some(INLINE + 1));
        // The room a record of the largest decoders takes anyway.
        let largest = std::mem::size_of::<super::super::wamp::WampRecord>();
        assert!(std::mem::size_of::<JsonRecord>() <= largest);
        assert_eq!(std::mem::size_of::<SubRecord>(), largest);
    }

    #[test]
    fn one_line_cuts_on_characters_and_pretty_indents() {
        let v = json!({"msg": "héllo wörld"});
        assert_eq!(one_line(&v, 100), r#"{"msg":"héllo wörld"}"#);
        assert_eq!(one_line(&v, 10), r#"{"msg":"hé…"#);
        assert_eq!(pretty(&json!({"a": [1]})), "{\n  \"a\": [\n    1\n  ]\n}");
        assert_eq!(label(&json!("x")), "x");
        assert_eq!(label(&json!(12)), "12");
    }
}
