//! Plain JSON messages (validated, no protocol semantics), and the JSON forms every JSON-based
//! decoder shares: pretty for `-V` / `--follow`, one line (cut) for summaries.

use super::{Node, Sink, SubProtocol, SubRecord};
use serde::Serialize;
use serde_json::Value;

/// Top-level keys listed per object.
const MAX_KEYS: usize = 16;

/// A valid JSON message. Only validated when decoded (no value is built: most messages are
/// never shown); its members are read when an output asks (`keys`, `len`, the views).
#[derive(Clone, Debug, PartialEq)]
pub struct JsonRecord {
    /// `object`, `array`, `string`, `number`, `bool` or `null`.
    pub kind: &'static str,
    /// The message's text, valid JSON.
    pub text: Box<str>,
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
    /// `text` if it is valid JSON (checked without building a value).
    pub fn parse(text: &str) -> Result<JsonRecord, serde_json::Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(text)?;
        Ok(JsonRecord {
            kind: kind_of_text(text),
            text: text.into(),
        })
    }

    /// The value (the text was validated, so this does not fail but on a value nested deeper
    /// than serde_json's recursion limit, shown as null).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// An object's first keys in wire order, the members of an object or elements of an array.
    pub fn keys_and_len(&self) -> (Vec<String>, Option<usize>) {
        match self.value() {
            Value::Object(m) => (m.keys().take(MAX_KEYS).cloned().collect(), Some(m.len())),
            Value::Array(a) => (Vec::new(), Some(a.len())),
            _ => (Vec::new(), None),
        }
    }

    pub fn summary_at(&self, w: usize) -> String {
        one_line(&self.value(), wide(w))
    }

    pub fn details(&self) -> Vec<Node> {
        vec![Node::json("Value", &self.value())]
    }
}

/// The `sub` fields: `type`, the first keys, the length (the value itself is not repeated:
/// the message preview carries it).
impl Serialize for JsonRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (keys, len) = self.keys_and_len();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.kind)?;
        if !keys.is_empty() {
            m.serialize_entry("keys", &keys)?;
        }
        if let Some(len) = len {
            m.serialize_entry("len", &len)?;
        }
        m.end()
    }
}

pub(super) fn decode(sink: &mut Sink<'_>) {
    let Some(text) = sink.text(SubProtocol::Json) else {
        return;
    };
    match JsonRecord::parse(text) {
        Ok(r) => sink.record(SubRecord::Json(r)),
        Err(e) => sink.invalid_json(SubProtocol::Json, &e),
    }
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

    #[test]
    fn records_kind_keys_and_length() {
        let r = JsonRecord::parse(r#"{"b": 1, "a": [1, 2]}"#).unwrap();
        assert_eq!(r.kind, "object");
        assert_eq!(
            r.keys_and_len(),
            (vec!["b".to_string(), "a".to_string()], Some(2))
        );
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
    fn one_line_cuts_on_characters_and_pretty_indents() {
        let v = json!({"msg": "héllo wörld"});
        assert_eq!(one_line(&v, 100), r#"{"msg":"héllo wörld"}"#);
        assert_eq!(one_line(&v, 10), r#"{"msg":"hé…"#);
        assert_eq!(pretty(&json!({"a": [1]})), "{\n  \"a\": [\n    1\n  ]\n}");
        assert_eq!(label(&json!("x")), "x");
        assert_eq!(label(&json!(12)), "12");
    }
}
