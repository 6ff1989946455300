//! Evaluation: a compiled filter tested against one record through [`FieldSource`], the trait
//! the record model implements. A source hands out borrowed [`Value`]s one at a time to a
//! visitor, so a test over a record allocates nothing: names were resolved to [`FieldId`]s,
//! literals converted, substring finders and regular expressions built when the filter was
//! compiled.
//!
//! Semantics (docs/filter.md says the same for users):
//! - a test on a field the record does not carry is false, so `!test` is true there;
//! - a test on a field with several values (header lines, both ends of a flow) holds if any
//!   value passes it, except `!=`, which holds if the field is present and no value equals
//!   (so `a == x` and `a != x` are never both true, and `http.status != 200` does not match
//!   records that have no status);
//! - a bare bool field is a test that it is true; any other bare field, that it is present.

use super::ast::CmpOp;
use super::compile::{COp, CTest, Node, Operand, in_net};
use super::fields::{FieldId, RecordType, Type};
use crate::time::Timestamp;
use std::cmp::Ordering;
use std::net::IpAddr;
use std::ops::ControlFlow;

/// One value of a field, borrowed from the record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A protocol field: the record is of that protocol.
    Present,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    /// An enum value by name, as the catalog lists it.
    Sym(&'a str),
    Addr(IpAddr),
    Time(Timestamp),
}

impl Value<'_> {
    /// Whether this value is of the type `ty` (what a source promises for each field).
    pub fn is_of(&self, ty: Type) -> bool {
        matches!(
            (self, ty),
            (Value::Present, Type::Protocol)
                | (Value::Bool(_), Type::Bool)
                | (Value::Int(_), Type::Int)
                | (Value::Float(_), Type::Float)
                | (Value::Str(_), Type::Str)
                | (Value::Bytes(_), Type::Bytes)
                | (Value::Sym(_), Type::Enum(_))
                | (Value::Addr(_), Type::Addr)
                | (Value::Time(_), Type::Time)
        )
    }
}

/// A record as a filter sees it. The record model implements this for each record type.
pub trait FieldSource {
    /// The record's type.
    fn record_type(&self) -> RecordType;

    /// Calls `each` with every value of `field` on this record (with `key` for a keyed field,
    /// such as the header name of `http.header.<name>`), until `each` breaks; none at all when
    /// the record does not carry the field. Values must be of the field's catalog type.
    fn values(
        &self,
        field: FieldId,
        key: Option<&str>,
        each: &mut dyn FnMut(Value<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()>;
}

/// The visitor a source hands values to.
pub type Each<'e> = dyn FnMut(Value<'_>) -> ControlFlow<()> + 'e;

/// Hands `v` to `each` if there is one.
pub fn one(v: Option<Value<'_>>, each: &mut Each<'_>) -> ControlFlow<()> {
    match v {
        Some(v) => each(v),
        None => ControlFlow::Continue(()),
    }
}

/// What one record type says about its own fields, written next to the record in `model/`:
/// every field of the catalog the record carries itself (not the ones of its flow, which
/// `model::fields::RecordView` adds). A record type added by a protocol implements this and
/// is filtered, listed by `-T fields` and judged by `check --forbid` with nothing else changed.
pub trait OwnFields {
    /// The record's type.
    fn record_type(&self) -> RecordType;

    /// As [`FieldSource::values`], for the record's own fields; nothing for any other.
    fn own_values(&self, field: FieldId, key: Option<&str>, each: &mut Each<'_>)
    -> ControlFlow<()>;
}

/// Whether any value of the test's field satisfies `pred`.
fn any<S: FieldSource + ?Sized>(
    t: &CTest,
    src: &S,
    mut pred: impl FnMut(&Value<'_>) -> bool,
) -> bool {
    let mut found = false;
    let _ = src.values(t.field, t.key.as_deref(), &mut |v| {
        if pred(&v) {
            found = true;
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

pub(crate) fn eval<S: FieldSource + ?Sized>(node: &Node, src: &S) -> bool {
    match node {
        Node::And(v) => v.iter().all(|n| eval(n, src)),
        Node::Or(v) => v.iter().any(|n| eval(n, src)),
        Node::Not(n) => !eval(n, src),
        Node::Test(t) => t.records.contains(src.record_type()) && test(t, src),
    }
}

fn test<S: FieldSource + ?Sized>(t: &CTest, src: &S) -> bool {
    match &t.op {
        COp::Exists => any(t, src, |_| true),
        COp::IsTrue => any(t, src, |v| *v == Value::Bool(true)),
        COp::Cmp(CmpOp::Ne, x) => {
            let mut seen = false;
            let equal = any(t, src, |v| {
                seen = true;
                equals(v, x)
            });
            seen && !equal
        }
        COp::Cmp(op, x) => any(t, src, |v| compare(*op, v, x)),
        COp::Contains(finder) => any(t, src, |v| match v {
            Value::Str(s) | Value::Sym(s) => finder.find(s.as_bytes()).is_some(),
            Value::Bytes(b) => finder.find(b).is_some(),
            _ => false,
        }),
        COp::Matches(re) => any(t, src, |v| match v {
            Value::Str(s) | Value::Sym(s) => re.is_match(s),
            _ => false,
        }),
        COp::MatchesBytes(re) => any(t, src, |v| match v {
            Value::Bytes(b) => re.is_match(b),
            _ => false,
        }),
        COp::In(items) => any(t, src, |v| {
            items.iter().any(|(lo, hi)| match hi {
                None => equals(v, lo),
                Some(hi) => compare(CmpOp::Ge, v, lo) && compare(CmpOp::Le, v, hi),
            })
        }),
    }
}

fn equals(v: &Value<'_>, x: &Operand) -> bool {
    match (v, x) {
        (Value::Sym(a), Operand::Sym { name, .. }) => *a == &**name,
        (Value::Addr(a), Operand::Net(net, bits)) => in_net(*a, *net, *bits),
        _ => order(v, x) == Some(Ordering::Equal),
    }
}

fn compare(op: CmpOp, v: &Value<'_>, x: &Operand) -> bool {
    if op == CmpOp::Eq {
        return equals(v, x);
    }
    if op == CmpOp::Ne {
        return !equals(v, x);
    }
    let Some(o) = order(v, x) else {
        return false;
    };
    match op {
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
        CmpOp::Eq | CmpOp::Ne => unreachable!("handled above"),
    }
}

/// How a value orders against an operand of the same type; `None` across types (a source
/// that broke its promise) or for values without an order.
fn order(v: &Value<'_>, x: &Operand) -> Option<Ordering> {
    match (v, x) {
        (Value::Bool(a), Operand::Bool(b)) => Some(a.cmp(b)),
        (Value::Int(a), Operand::Int(b)) => Some(a.cmp(b)),
        (Value::Int(a), Operand::Float(b)) => (*a as f64).partial_cmp(b),
        (Value::Float(a), Operand::Float(b)) => a.partial_cmp(b),
        (Value::Str(a), Operand::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::Bytes(a), Operand::Bytes(b)) => Some((*a).cmp(&**b)),
        (Value::Time(a), Operand::Time(b)) => Some(a.as_nanos().cmp(b)),
        (Value::Sym(a), Operand::Sym { pos, def, .. }) => Some(def.position(a)?.cmp(&(*pos)?)),
        _ => None,
    }
}
