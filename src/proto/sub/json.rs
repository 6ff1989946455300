//! Plain JSON messages (validated, no protocol semantics), and the JSON forms every JSON-based
//! decoder shares: pretty for `-V` / `--follow`, one line (cut) for summaries.

use super::{Node, Sink, SubProtocol, SubRecord};
use serde::Serialize;
use serde_json::Value;

/// Top-level keys listed per object.
const MAX_KEYS: usize = 16;

/// A valid JSON message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JsonRecord {
    /// `object`, `array`, `string`, `number`, `bool` or `null`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// An object's first keys (sorted: serde_json's map keeps no order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Members of an object, elements of an array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len: Option<usize>,
    /// The value itself, for the detail view (not repeated in the `sub` object: the message
    /// preview already carries it).
    #[serde(skip)]
    pub value: Value,
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

impl JsonRecord {
    pub fn new(value: Value) -> JsonRecord {
        let (keys, len) = match &value {
            Value::Object(m) => (m.keys().take(MAX_KEYS).cloned().collect(), Some(m.len())),
            Value::Array(a) => (Vec::new(), Some(a.len())),
            _ => (Vec::new(), None),
        };
        JsonRecord {
            kind: kind_of(&value),
            keys,
            len,
            value,
        }
    }

    pub fn summary(&self) -> String {
        one_line(&self.value, 60)
    }

    pub fn details(&self) -> Vec<Node> {
        vec![Node::json("Value", &self.value)]
    }
}

pub(super) fn decode(sink: &mut Sink<'_>) {
    let Some(text) = sink.text(SubProtocol::Json) else {
        return;
    };
    if let Some(v) = sink.json(SubProtocol::Json, text) {
        sink.record(SubRecord::Json(JsonRecord::new(v)));
    }
}

/// Indented, one member per line (serde_json's pretty form).
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
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
        let r = JsonRecord::new(json!({"b": 1, "a": [1, 2]}));
        assert_eq!(r.kind, "object");
        assert_eq!(r.len, Some(2));
        assert_eq!(r.keys.len(), 2);
        let j = serde_json::to_value(SubRecord::Json(r)).unwrap();
        assert_eq!(j["protocol"], "json");
        assert_eq!(j["type"], "object");
        assert!(j.get("value").is_none());
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
