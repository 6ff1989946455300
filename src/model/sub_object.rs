//! The `sub` object of a decoded unit, described once: each decoder's record (`proto::sub`)
//! lists its own fields in order ([`Members`]: names with the values they borrow, kept on the
//! stack), the catalog's rules (`SubRecord::catalog`) put `type` second and add or rename the
//! filter catalog's fields, and the list serializes into any serde serializer — the `--json`
//! writer straight into its line, nothing built per message
//! ([`SubMeaning::members_to`](crate::model::SubMeaning::members_to)); `serde_json` into
//! the map that filters, HAR and the tests read.
//!
//! The rules edit the list as they edited the `serde_json::Map` they were first written for
//! (insertion order kept, a removal fills the gap with the last member), so the order of the
//! members is that map's, byte for byte.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt;

/// One member's value, borrowed from the record it describes.
#[derive(Clone, Copy)]
pub enum Member<'m> {
    Str(&'m str),
    /// Written as it serializes.
    Value(&'m dyn erased_serde::Serialize),
    /// A number the catalog types as a string (an id), written as its text.
    Text(&'m dyn fmt::Display),
    /// A count or length (written without the type erasure a [`Member::Value`] goes through).
    Uint(u64),
    /// A list of strings (a JSON object's keys).
    Strs(&'m [Cow<'m, str>]),
}

impl<'m> Member<'m> {
    /// A string the record may have.
    pub fn str_of(v: &'m Option<String>) -> Option<Member<'m>> {
        v.as_deref().map(Member::Str)
    }

    /// A number the record may have, as text.
    pub fn text_of<T: fmt::Display>(v: &'m Option<T>) -> Option<Member<'m>> {
        v.as_ref().map(|v| Member::Text(v))
    }
}

impl Serialize for Member<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Member::Str(v) => s.serialize_str(v),
            Member::Value(v) => erased_serde::serialize(v, s),
            Member::Text(v) => s.collect_str(v),
            Member::Uint(v) => s.serialize_u64(v),
            Member::Strs(v) => s.collect_seq(v.iter().map(|k| &**k)),
        }
    }
}

/// The members of a `sub` object in order (the most a record has fit on the stack).
#[derive(Default)]
pub struct Members<'m>(SmallVec<[(&'static str, Member<'m>); 24]>);

impl<'m> Members<'m> {
    /// The list with `protocol` first.
    pub fn new(protocol: &'static str) -> Members<'m> {
        let mut m = Members::default();
        m.str("protocol", protocol);
        m
    }

    pub fn str(&mut self, name: &'static str, v: &'m str) {
        self.0.push((name, Member::Str(v)));
    }

    pub fn value<T: Serialize>(&mut self, name: &'static str, v: &'m T) {
        self.0.push((name, Member::Value(v)));
    }

    /// A member that is there only when the record has it.
    pub fn opt<T: Serialize>(&mut self, name: &'static str, v: &'m Option<T>) {
        if let Some(v) = v {
            self.value(name, v);
        }
    }

    /// A count or length that is there only when the record has it.
    pub fn opt_uint(&mut self, name: &'static str, v: Option<usize>) {
        if let Some(v) = v {
            self.0.push((name, Member::Uint(v as u64)));
        }
    }

    /// A list of strings that is there only when it is not empty.
    pub fn strs(&mut self, name: &'static str, v: &'m [Cow<'m, str>]) {
        if !v.is_empty() {
            self.0.push((name, Member::Strs(v)));
        }
    }

    /// A string member that is there only when the record has it.
    pub fn opt_str(&mut self, name: &'static str, v: &'m Option<String>) {
        if let Some(v) = v {
            self.str(name, v);
        }
    }

    /// A member that is there only when `present` (a list that is not empty, a flag that is set).
    pub fn value_if<T: Serialize>(&mut self, present: bool, name: &'static str, v: &'m T) {
        if present {
            self.value(name, v);
        }
    }

    /// The member `name`, as the object holds it: when a name was listed twice, its last
    /// value (as a map the list is written into keeps).
    pub fn get(&self, name: &str) -> Option<&Member<'m>> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|(n, _)| *n == name)
    }

    /// Sets `name`: in its place when the object has it, else last.
    pub fn insert(&mut self, name: &'static str, v: Member<'m>) {
        match self.position(name) {
            Some(i) => self.0[i].1 = v,
            None => self.0.push((name, v)),
        }
    }

    /// Adds `name` last when the object has no such member and `v` is there.
    pub fn put(&mut self, name: &'static str, v: Option<Member<'m>>) {
        if let Some(v) = v
            && self.position(name).is_none()
        {
            self.0.push((name, v));
        }
    }

    /// Takes `name` out, the last member moving into its place.
    pub fn remove(&mut self, name: &str) -> Option<Member<'m>> {
        let i = self.position(name)?;
        Some(self.0.swap_remove(i).1)
    }

    /// Renames `from` to `to`, which goes last (as [`remove`](Self::remove) then
    /// [`insert`](Self::insert)).
    pub fn rename(&mut self, from: &str, to: &'static str) {
        if let Some(v) = self.remove(from) {
            self.insert(to, v);
        }
    }

    /// Moves `name` to place `at` (or last, when fewer come before it), the others keeping
    /// their order.
    pub fn move_to(&mut self, name: &str, at: usize) {
        if let Some(i) = self.position(name)
            && i != at.min(self.0.len() - 1)
        {
            let member = self.0.remove(i);
            let at = at.min(self.0.len());
            self.0.insert(at, member);
        }
    }
}

/// The object: its members in order.
impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_struct("sub", self.0.len())?;
        for (name, v) in &self.0 {
            o.serialize_field(name, v)?;
        }
        o.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Members<'_>) -> String {
        serde_json::to_string(m).unwrap()
    }

    fn names(m: &Members<'_>) -> Vec<&'static str> {
        m.0.iter().map(|(n, _)| *n).collect()
    }

    #[test]
    fn the_list_is_edited_as_an_insertion_ordered_map() {
        let (one, two, three) = (1u64, "x".to_string(), Some(3u8));
        let mut m = Members::new("p");
        m.value("a", &one);
        m.str("b", &two);
        m.opt("c", &three);
        m.opt::<u8>("none", &None);
        m.value_if(false, "off", &one);
        m.value("d", &[1, 2]);
        assert_eq!(
            text(&m),
            r#"{"protocol":"p","a":1,"b":"x","c":3,"d":[1,2]}"#
        );
        m.move_to("c", 1);
        assert_eq!(names(&m), ["protocol", "c", "a", "b", "d"]);
        m.rename("a", "z");
        assert_eq!(names(&m), ["protocol", "c", "d", "b", "z"]);
        m.put("b", Some(Member::Text(&one)));
        m.put("y", Some(Member::Text(&one)));
        m.put("w", None);
        m.insert("c", Member::Str("c"));
        assert_eq!(
            text(&m),
            r#"{"protocol":"p","c":"c","d":[1,2],"b":"x","z":1,"y":"1"}"#
        );
        assert!(m.remove("w").is_none());
        m.move_to("protocol", 9);
        assert_eq!(names(&m).last().copied(), Some("protocol"));
    }

    #[test]
    fn edits_match_serde_json_map_edits() {
        use serde_json::{Map, Value};
        let keys = ["a", "b", "c", "d", "e"];
        for gone in keys {
            let mut map: Map<String, Value> = keys
                .iter()
                .map(|n| (n.to_string(), Value::from(*n)))
                .collect();
            let vals: Vec<String> = keys.iter().map(|n| n.to_string()).collect();
            let mut m = Members::default();
            for (n, v) in keys.iter().zip(&vals) {
                m.str(n, v);
            }
            let v = map.remove(gone).unwrap();
            map.insert("new".into(), v);
            m.rename(gone, "new");
            assert_eq!(text(&m), serde_json::to_string(&map).unwrap(), "{gone}");
        }
    }
}
