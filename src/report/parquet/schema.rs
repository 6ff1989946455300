//! The Parquet tables, derived from docs/schema.json (built into the binary) and from nothing
//! else: one table per record type, one column per JSON field with the field's name, typed from
//! the field's JSON Schema. A record type or field added to the schema (and to the records'
//! JSON form) is a table or column here with no change to this module.
//!
//! | JSON Schema of the field | column |
//! |---|---|
//! | `integer` | `INT64` |
//! | `number` | `DOUBLE` (times stay seconds since the epoch, as in JSON) |
//! | `boolean` | `BOOLEAN` |
//! | `string`, `enum` of strings, `const` | `BYTE_ARRAY (STRING)` |
//! | `array` of strings | `LIST<STRING>` |
//! | `array` of `array`s of strings (HTTP `headers`) | `LIST<LIST<STRING>>` |
//! | anything else (objects, mixed arrays) | `BYTE_ARRAY (JSON)`: the value's JSON text |
//!
//! Every column is optional (a field that is `null` or absent is a null). The `type` field is
//! the table itself and has no column. Columns whose values the schema lists (`enum`) are
//! dictionary-encoded; the others are plain, for zstd to compress.

use serde_json::Value;
use std::sync::OnceLock;

/// docs/schema.json, as built.
const SCHEMA_JSON: &str = include_str!("../../../docs/schema.json");

/// How a column holds its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Bool,
    Str,
    /// The value's JSON text.
    Json,
    StrList,
    StrListList,
}

/// One column: the JSON field's name and how it is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub kind: Kind,
    /// The schema lists the field's values (`enum`): few distinct ones, dictionary-encoded.
    pub few_values: bool,
}

/// One table: the record type it holds, its file name, its columns in the schema's order.
#[derive(Clone, Debug)]
pub struct TableDef {
    pub record: String,
    pub file: String,
    pub columns: Vec<ColumnDef>,
}

impl TableDef {
    /// The table's Parquet message type, in the Parquet schema language.
    pub fn message_type(&self) -> String {
        let mut out = format!("message {} {{\n", self.file);
        for c in &self.columns {
            let n = &c.name;
            let line = match c.kind {
                Kind::Int => format!("optional int64 {n};"),
                Kind::Float => format!("optional double {n};"),
                Kind::Bool => format!("optional boolean {n};"),
                Kind::Str => format!("optional binary {n} (STRING);"),
                Kind::Json => format!("optional binary {n} (JSON);"),
                Kind::StrList => format!(
                    "optional group {n} (LIST) {{ repeated group list {{ required binary element (STRING); }} }}"
                ),
                Kind::StrListList => format!(
                    "optional group {n} (LIST) {{ repeated group list {{ required group element (LIST) {{ repeated group list {{ required binary element (STRING); }} }} }} }}"
                ),
            };
            out.push_str("  ");
            out.push_str(&line);
            out.push('\n');
        }
        out.push('}');
        out
    }
}

/// The record types written as tables, with their files, in the order they are written:
/// everything a flow's analysis produces (what `--json` writes before the summary).
/// `ws_frame` is written only when asked for (`--ws-frames`).
pub const TABLES: &[(&str, &str)] = &[
    ("flow", "flows"),
    ("http", "http"),
    ("handshake", "handshakes"),
    ("ws_message", "ws_messages"),
    ("ws_frame", "ws_frames"),
    ("sse_event", "sse_events"),
    ("anomaly", "anomalies"),
];

/// The file a record type's table is written to: the list above, else the type's own name
/// (`tls`, `sub`, `latency`: a record type added later).
pub fn file_of(record: &str) -> String {
    TABLES
        .iter()
        .find(|(r, _)| *r == record)
        .map_or_else(|| record.to_string(), |(_, f)| f.to_string())
}

/// The table of `record`, from the schema; `None` for a type the schema does not describe.
/// Columns come in the order the schema lists the fields (the JSON form's order).
pub fn table(record: &str) -> Option<TableDef> {
    let schema = schema();
    let props = schema["$defs"][record]["properties"].as_object()?;
    let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
    if let Some(order) = field_order().get(record) {
        names.sort_by_key(|n| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
    }
    let columns = names
        .into_iter()
        .filter(|name| *name != "type")
        .map(|name| ColumnDef {
            name: name.to_string(),
            kind: kind_of(&props[name]),
            few_values: props[name]["enum"].is_array(),
        })
        .collect();
    Some(TableDef {
        record: record.to_string(),
        file: file_of(record),
        columns,
    })
}

/// The order of each record type's fields in the schema file (a JSON object read into a map
/// loses it).
fn field_order() -> &'static std::collections::HashMap<String, Vec<String>> {
    use serde::Deserialize;
    use serde::de::{IgnoredAny, MapAccess, Visitor};

    /// An object's keys in file order.
    struct Keys(Vec<String>);
    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, IgnoredAny)) = m.next_entry::<String, IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    #[derive(Deserialize)]
    struct Def {
        #[serde(default)]
        properties: Option<Keys>,
    }
    #[derive(Deserialize)]
    struct Schema {
        #[serde(rename = "$defs")]
        defs: std::collections::HashMap<String, Def>,
    }
    static ORDER: OnceLock<std::collections::HashMap<String, Vec<String>>> = OnceLock::new();
    ORDER.get_or_init(|| {
        serde_json::from_str::<Schema>(SCHEMA_JSON)
            .map(|s| {
                s.defs
                    .into_iter()
                    .filter_map(|(k, d)| Some((k, d.properties?.0)))
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    // The schema is a file of this repository, checked by the tests to be JSON.
    SCHEMA.get_or_init(|| serde_json::from_str(SCHEMA_JSON).unwrap_or(Value::Null))
}

/// The JSON types a field's schema allows, `null` left out.
fn types_of(prop: &Value) -> Vec<&str> {
    match &prop["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a field's schema allows only strings (and null).
fn only_strings(prop: &Value) -> bool {
    match types_of(prop).as_slice() {
        ["string"] => true,
        [] => {
            let strings = |v: &Value| v.is_string() || v.is_null();
            prop["enum"]
                .as_array()
                .is_some_and(|e| !e.is_empty() && e.iter().all(strings))
                || prop["const"].is_string()
        }
        _ => false,
    }
}

/// Whether an array's items are all strings (`items` or every `prefixItems`).
fn items_are_strings(prop: &Value) -> bool {
    if let Some(prefix) = prop["prefixItems"].as_array() {
        return prefix.iter().all(only_strings)
            && (prop["items"].is_null() || only_strings(&prop["items"]));
    }
    only_strings(&prop["items"])
}

fn kind_of(prop: &Value) -> Kind {
    if only_strings(prop) {
        return Kind::Str;
    }
    match types_of(prop).as_slice() {
        ["integer"] => Kind::Int,
        ["number"] | ["integer", "number"] | ["number", "integer"] => Kind::Float,
        ["boolean"] => Kind::Bool,
        ["array"] => {
            let items = &prop["items"];
            if items_are_strings(prop) {
                Kind::StrList
            } else if types_of(items) == ["array"] && items_are_strings(items) {
                Kind::StrListList
            } else {
                Kind::Json
            }
        }
        _ => Kind::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(t: &TableDef, name: &str) -> Kind {
        t.columns
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{} has no column {name}", t.file))
            .kind
    }

    #[test]
    fn tables_take_their_columns_and_types_from_the_schema() {
        for (record, file) in TABLES {
            let t = table(record).unwrap_or_else(|| panic!("no table for {record}"));
            assert_eq!(&t.file, file);
            assert!(t.columns.iter().all(|c| c.name != "type"));
            parquet::schema::parser::parse_message_type(&t.message_type())
                .unwrap_or_else(|e| panic!("{file}: {e}\n{}", t.message_type()));
        }
        let http = table("http").unwrap();
        let names: Vec<&str> = http.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names[..5],
            ["flow", "dir", "ts", "frame", "kind"],
            "the schema's order"
        );
        assert_eq!(column(&http, "flow"), Kind::Int);
        assert_eq!(column(&http, "ts"), Kind::Float);
        assert_eq!(column(&http, "method"), Kind::Str);
        assert_eq!(column(&http, "dir"), Kind::Str);
        assert!(
            http.columns
                .iter()
                .find(|c| c.name == "dir")
                .unwrap()
                .few_values
        );
        assert!(
            !http
                .columns
                .iter()
                .find(|c| c.name == "target")
                .unwrap()
                .few_values
        );
        assert_eq!(column(&http, "chunked"), Kind::Bool);
        assert_eq!(column(&http, "headers"), Kind::StrListList);
        let hs = table("handshake").unwrap();
        assert_eq!(column(&hs, "extensions"), Kind::StrList);
        let flow = table("flow").unwrap();
        assert_eq!(column(&flow, "community_id"), Kind::Str);
        assert_eq!(column(&flow, "closed"), Kind::Str);
        assert_eq!(column(&flow, "ping_rtt_ms"), Kind::Float);
        let summary = table("summary").unwrap();
        assert_eq!(column(&summary, "kinds"), Kind::Json);
        assert_eq!(column(&summary, "overhead"), Kind::Json);
        assert!(table("no_such_record").is_none());
        assert_eq!(file_of("latency"), "latency");
    }
}
