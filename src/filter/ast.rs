//! The syntax tree of a display filter, as parsed and before any name is resolved, and its
//! canonical text: `&&`, `||`, `!` and symbolic comparisons, one space around binary operators,
//! parentheses only where precedence needs them, integers in decimal, strings quoted with
//! escapes. Parsing the canonical text gives back the same tree (the property tests check it),
//! so the canonical text is a faithful way to show, log or store a filter.

use std::fmt::{self, Write};

/// Byte offsets of a piece of the filter's text, for error messages. Spans are not part of an
/// expression's meaning: two trees that differ only in spans are equal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// An expression. `And` and `Or` hold two or more operands: `a && b && c` is one `And`, while
/// `a && (b && c)` nests one inside the other.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    /// `!` or `not`, with the span of the operator.
    Not(Box<Expr>, Span),
    Test(Test),
}

/// A field and what is asked of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub field: Name,
    pub check: Check,
}

/// A field name as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// The bare field: present (for a bool field: true).
    Exists,
    Compare(CmpOp, Literal),
    Contains(Literal),
    /// A regular expression (always a string literal).
    Matches(Literal),
    In(Vec<SetItem>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether the operator orders values (rather than only telling them apart).
    pub fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// An element of an `in { … }` set.
#[derive(Clone, Debug, PartialEq)]
pub enum SetItem {
    One(Literal),
    /// `lo..hi`, both ends included.
    Range(Literal, Literal),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub value: LitValue,
    pub span: Span,
}

/// A literal as written; what it means depends on the field it is compared with.
#[derive(Clone, Debug, PartialEq)]
pub enum LitValue {
    /// Decimal or `0x` hexadecimal, within -2^63 .. 2^64-1.
    Int(i128),
    /// Finite.
    Float(f64),
    /// A quoted string: bytes, as escapes may write any byte.
    Str(Vec<u8>),
    /// An unquoted word: an enum value (`text`), `true`/`false`, an address (`10.0.0.0/8`),
    /// bytes (`a1:b2:c3:d4`), a date, or a string.
    Word(String),
}

impl Expr {
    /// Binding strength: `||` < `&&` < `!` < a test.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(_) => 1,
            Expr::And(_) => 2,
            Expr::Not(..) => 3,
            Expr::Test(_) => 4,
        }
    }

    /// Every test, in order.
    pub fn tests(&self) -> Vec<&Test> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Or(v) | Expr::And(v) => stack.extend(v.iter().rev()),
                Expr::Not(e, _) => stack.push(e),
                Expr::Test(t) => out.push(t),
            }
        }
        out
    }

    /// The canonical text, with each field name as `name` gives it.
    pub fn print_with(&self, name: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        self.write(&mut out, name);
        out
    }

    fn write(&self, out: &mut String, name: &dyn Fn(&str) -> String) {
        match self {
            Expr::Or(v) | Expr::And(v) => {
                let op = if matches!(self, Expr::Or(_)) {
                    " || "
                } else {
                    " && "
                };
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(op);
                    }
                    // Same-precedence operands are parenthesised too: `a && (b && c)` is a
                    // different tree from `a && b && c`.
                    e.write_operand(out, name, e.precedence() <= self.precedence());
                }
            }
            Expr::Not(e, _) => {
                out.push('!');
                e.write_operand(out, name, e.precedence() < self.precedence());
            }
            Expr::Test(t) => t.write(out, name),
        }
    }

    fn write_operand(&self, out: &mut String, name: &dyn Fn(&str) -> String, parens: bool) {
        if parens {
            out.push('(');
        }
        self.write(out, name);
        if parens {
            out.push(')');
        }
    }
}

impl fmt::Display for Expr {
    /// The canonical text, names as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.print_with(&|n| n.to_string()))
    }
}

impl Test {
    fn write(&self, out: &mut String, name: &dyn Fn(&str) -> String) {
        out.push_str(&name(&self.field.text));
        match &self.check {
            Check::Exists => {}
            Check::Compare(op, lit) => {
                let _ = write!(out, " {} {}", op.symbol(), lit.value);
            }
            Check::Contains(lit) => {
                let _ = write!(out, " contains {}", lit.value);
            }
            Check::Matches(lit) => {
                let _ = write!(out, " matches {}", lit.value);
            }
            Check::In(items) => {
                out.push_str(" in {");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    match item {
                        SetItem::One(l) => {
                            let _ = write!(out, "{}", l.value);
                        }
                        SetItem::Range(lo, hi) => {
                            let _ = write!(out, "{}..{}", lo.value, hi.value);
                        }
                    }
                }
                out.push('}');
            }
        }
    }
}

impl fmt::Display for LitValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LitValue::Int(n) => write!(f, "{n}"),
            // Debug keeps a `.0` or an exponent, so the text reads back as a float.
            LitValue::Float(x) => write!(f, "{x:?}"),
            LitValue::Word(w) => f.write_str(w),
            LitValue::Str(bytes) => {
                let mut s = String::with_capacity(bytes.len() + 2);
                quote(bytes, &mut s);
                f.write_str(&s)
            }
        }
    }
}

/// Writes `bytes` as a quoted string literal: `"` and `\` escaped, line ends and tabs as `\n`
/// `\r` `\t`, other characters a terminal would act on as `\u{…}`, bytes that are not UTF-8
/// as `\xNN`.
pub fn quote(bytes: &[u8], out: &mut String) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if !crate::report::escape::is_safe(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(name: &str, check: Check) -> Expr {
        Expr::Test(Test {
            field: Name {
                text: name.into(),
                span: Span::default(),
            },
            check,
        })
    }

    fn lit(value: LitValue) -> Literal {
        Literal {
            value,
            span: Span::default(),
        }
    }

    #[test]
    fn parentheses_only_where_precedence_needs_them() {
        let a = test("a", Check::Exists);
        let b = test("b", Check::Compare(CmpOp::Ge, lit(LitValue::Int(500))));
        let c = test("c", Check::Contains(lit(LitValue::Str(b"x\"y".to_vec()))));
        let or = Expr::Or(vec![a.clone(), b.clone()]);
        let e = Expr::And(vec![or.clone(), c.clone()]);
        assert_eq!(e.to_string(), r#"(a || b >= 500) && c contains "x\"y""#);
        let e = Expr::Or(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()]);
        assert_eq!(e.to_string(), r#"a && b >= 500 || c contains "x\"y""#);
        let e = Expr::And(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])]);
        assert_eq!(e.to_string(), r#"a && (b >= 500 && c contains "x\"y")"#);
        let e = Expr::Not(Box::new(or), Span::default());
        assert_eq!(e.to_string(), "!(a || b >= 500)");
        let e = Expr::Not(
            Box::new(Expr::Not(Box::new(a), Span::default())),
            Span::default(),
        );
        assert_eq!(e.to_string(), "!!a");
    }

    #[test]
    fn literals_print_so_they_read_back() {
        let set = test(
            "p",
            Check::In(vec![
                SetItem::One(lit(LitValue::Int(-1))),
                SetItem::Range(lit(LitValue::Float(1.0)), lit(LitValue::Float(1e20))),
                SetItem::One(lit(LitValue::Word("10.0.0.0/8".into()))),
            ]),
        );
        assert_eq!(set.to_string(), "p in {-1, 1.0..1e20, 10.0.0.0/8}");
        let s = test(
            "s",
            Check::Matches(lit(LitValue::Str(b"\\d\n\x1b\xff\xc3\xa9".to_vec()))),
        );
        assert_eq!(s.to_string(), r#"s matches "\\d\n\u{1b}\xffé""#);
    }

    #[test]
    fn spans_do_not_change_meaning() {
        let mut a = test("a", Check::Exists);
        let b = a.clone();
        if let Expr::Test(t) = &mut a {
            t.field.span = Span::new(3, 4);
        }
        assert_eq!(a, b);
    }
}
