//! The display-filter grammar, parsed with winnow into an [`Expr`]. Every error names the byte
//! offset where the text stops making sense and says what was expected there.
//!
//! ```text
//! filter  := or EOF
//! or      := and (("||" | "or") and)*
//! and     := unary (("&&" | "and") unary)*
//! unary   := ("!" | "not") unary | primary
//! primary := "(" or ")" | test
//! test    := FIELD [ cmp value | "contains" value | ("matches" | "~") STRING | "in" set ]
//! cmp     := "==" | "!=" | "<" | "<=" | ">" | ">=" | "eq" | "ne" | "lt" | "le" | "gt" | "ge"
//! set     := "{" item ([","] item)* [","] "}"        item := value [".." value]
//! value   := STRING | r"RAW" | LITERAL
//! ```
//!
//! `&&` binds tighter than `||`. FIELD is `[A-Za-z_][A-Za-z0-9_.-]*`; LITERAL is a run of
//! `[A-Za-z0-9_.:/-]` that stops before `..`, read as an integer (decimal or `0x` hex), a float,
//! or else a word. STRING takes the escapes `\" \\ \n \r \t \0 \xNN \u{N…}`. Nesting of `(` and
//! `!` is limited to [`MAX_DEPTH`], so no input can exhaust the stack.

use super::ast::{Check, CmpOp, Expr, LitValue, Literal, Name, SetItem, Span, Test};
use winnow::LocatingSlice;
use winnow::error::{ErrMode, ParserError};
use winnow::prelude::*;
use winnow::stream::{Location, Stream};
use winnow::token::literal;

/// Levels of `(` and `!` allowed.
pub const MAX_DEPTH: usize = 64;

type In<'i> = LocatingSlice<&'i str>;
type PResult<T> = Result<T, ErrMode<Problem>>;

/// Where and why a filter does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the filter's text.
    pub at: usize,
    pub msg: String,
    /// A second place the message refers to: the text before it and its offset
    /// (`to close the ( at` 5).
    pub note: Option<(&'static str, usize)>,
}

impl<'i> ParserError<In<'i>> for Problem {
    type Inner = Self;

    fn from_input(input: &In<'i>) -> Self {
        Problem {
            at: input.current_token_start(),
            msg: String::new(),
            note: None,
        }
    }

    fn into_inner(self) -> Result<Self, Self> {
        Ok(self)
    }
}

fn cut<T>(at: usize, msg: impl Into<String>) -> PResult<T> {
    Err(ErrMode::Cut(Problem {
        at,
        msg: msg.into(),
        note: None,
    }))
}

/// Turns "nothing here" into a cut error with `msg`; real errors pass through.
fn required<T>(r: PResult<T>, at: usize, msg: impl Into<String>) -> PResult<T> {
    match r {
        Err(ErrMode::Backtrack(_)) => cut(at, msg),
        r => r,
    }
}

/// Parses a filter.
pub fn parse(text: &str) -> Result<Expr, Problem> {
    filter.parse(LocatingSlice::new(text)).map_err(|e| {
        let offset = e.offset();
        let mut p = e.into_inner();
        if p.msg.is_empty() {
            p.at = offset;
            p.msg = "this does not read as a filter".into();
        }
        p
    })
}

fn ws(i: &mut In<'_>) -> PResult<()> {
    winnow::ascii::multispace0.void().parse_next(i)
}

fn pos(i: &In<'_>) -> usize {
    i.current_token_start()
}

fn rest<'i>(i: &In<'i>) -> &'i str {
    i
}

fn filter(i: &mut In<'_>) -> PResult<Expr> {
    ws(i)?;
    if rest(i).is_empty() {
        return cut(
            pos(i),
            "an empty filter; write a test such as `http.status >= 500`",
        );
    }
    let at = pos(i);
    let e = required(or_expr(i, 0), at, "expected a field name, `!` or `(`")?;
    ws(i)?;
    if !rest(i).is_empty() {
        return cut(pos(i), what_instead(rest(i), "or the end of the filter"));
    }
    Ok(e)
}

/// The message for text found where `&&`, `||` or `end` should follow a test.
fn what_instead(rest: &str, end: &str) -> String {
    if rest.starts_with(')') {
        "this `)` has no `(` to close".into()
    } else if rest.starts_with('&') {
        "`&` is not an operator; write `&&` (or `and`)".into()
    } else if rest.starts_with('|') {
        "`|` is not an operator; write `||` (or `or`)".into()
    } else {
        format!("expected `&&`, `||` {end}")
    }
}

/// A keyword: the word followed by something that cannot continue a word.
fn keyword<'i>(i: &mut In<'i>, word: &'static str) -> PResult<&'i str> {
    let r = rest(i);
    let whole = r
        .strip_prefix(word)
        .is_some_and(|after| !after.chars().next().is_some_and(is_name_char));
    if whole {
        Ok(i.next_slice(word.len()))
    } else {
        Err(ErrMode::Backtrack(Problem::from_input(i)))
    }
}

/// A logical operator (`sym` or its word), returning how it was written.
fn logical<'i>(i: &mut In<'i>, sym: &'static str, word: &'static str) -> PResult<&'i str> {
    let start = i.checkpoint();
    ws(i)?;
    let r = literal(sym)
        .parse_next(i)
        .or_else(|_: ErrMode<Problem>| keyword(i, word));
    if r.is_err() {
        i.reset(&start);
    }
    r
}

fn or_expr(i: &mut In<'_>, depth: usize) -> PResult<Expr> {
    chain(i, depth, ("||", "or"), and_expr, Expr::Or)
}

fn and_expr(i: &mut In<'_>, depth: usize) -> PResult<Expr> {
    chain(i, depth, ("&&", "and"), unary, Expr::And)
}

/// Operands joined by one logical operator, collected into one node (`a && b && c`).
fn chain(
    i: &mut In<'_>,
    depth: usize,
    (sym, word): (&'static str, &'static str),
    operand: fn(&mut In<'_>, usize) -> PResult<Expr>,
    node: fn(Vec<Expr>) -> Expr,
) -> PResult<Expr> {
    let mut all = vec![operand(i, depth)?];
    while let Ok(op) = logical(i, sym, word) {
        ws(i)?;
        let at = pos(i);
        let next = operand(i, depth);
        all.push(required(next, at, format!("expected a test after `{op}`"))?);
    }
    Ok(match all.pop() {
        Some(only) if all.is_empty() => only,
        Some(last) => {
            all.push(last);
            node(all)
        }
        None => unreachable!("one operand at least"),
    })
}

fn deeper(at: usize, depth: usize) -> PResult<usize> {
    if depth >= MAX_DEPTH {
        return cut(
            at,
            format!("nested too deeply: more than {MAX_DEPTH} levels of `(` and `!`"),
        );
    }
    Ok(depth + 1)
}

fn unary(i: &mut In<'_>, depth: usize) -> PResult<Expr> {
    ws(i)?;
    let at = pos(i);
    let bang = rest(i).starts_with('!') && !rest(i).starts_with("!=");
    let op = if bang {
        Some(i.next_slice(1))
    } else {
        keyword(i, "not").ok()
    };
    let Some(op) = op else {
        return primary(i, depth);
    };
    let span = Span::new(at, pos(i));
    let depth = deeper(at, depth)?;
    ws(i)?;
    let inner_at = pos(i);
    let inner = required(
        unary(i, depth),
        inner_at,
        format!("expected a test after `{op}`"),
    )?;
    Ok(Expr::Not(Box::new(inner), span))
}

fn primary(i: &mut In<'_>, depth: usize) -> PResult<Expr> {
    let at = pos(i);
    if !rest(i).starts_with('(') {
        return test(i).map(Expr::Test);
    }
    i.next_slice(1);
    let depth = deeper(at, depth)?;
    ws(i)?;
    let inner_at = pos(i);
    let inner = required(or_expr(i, depth), inner_at, "expected a test after `(`")?;
    ws(i)?;
    if !rest(i).starts_with(')') {
        let msg = if rest(i).is_empty() {
            "expected `)`".to_string()
        } else {
            what_instead(rest(i), "or `)`")
        };
        return Err(ErrMode::Cut(Problem {
            at: pos(i),
            msg,
            note: Some(("to close the `(` at", at)),
        }));
    }
    i.next_slice(1);
    Ok(inner)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn test(i: &mut In<'_>) -> PResult<Test> {
    let at = pos(i);
    let starts = rest(i).chars().next().is_some_and(is_name_start);
    let name_len = if starts {
        rest(i).find(|c| !is_name_char(c)).unwrap_or(rest(i).len())
    } else {
        0
    };
    let word = &rest(i)[..name_len];
    if name_len == 0 || matches!(word, "and" | "or" | "not") {
        return Err(ErrMode::Backtrack(Problem::from_input(i)));
    }
    let name = i.next_slice(name_len);
    let field = Name {
        text: name.to_string(),
        span: Span::new(at, pos(i)),
    };
    let before_op = i.checkpoint();
    ws(i)?;
    let op_at = pos(i);
    let check = match operator(i)? {
        Some(Op::Cmp(op, shown)) => Check::Compare(op, value(i, shown)?),
        Some(Op::Contains(shown)) => Check::Contains(value(i, shown)?),
        Some(Op::Matches(shown)) => {
            ws(i)?;
            let v_at = pos(i);
            match rest(i).chars().next() {
                Some('"') => Check::Matches(quoted(i)?),
                Some('r') if rest(i).starts_with("r\"") => Check::Matches(quoted(i)?),
                _ => {
                    return cut(
                        v_at,
                        format!("expected a quoted regular expression after `{shown}`"),
                    );
                }
            }
        }
        Some(Op::In(shown)) => Check::In(set(i, shown)?),
        None => {
            let next = rest(i);
            let ends = next.is_empty()
                || next.starts_with([')', '&', '|'])
                || keyword(&mut i.clone(), "and").is_ok()
                || keyword(&mut i.clone(), "or").is_ok();
            if !ends {
                return cut(
                    op_at,
                    format!(
                        "expected an operator after `{name}` (==, !=, <, <=, >, >=, contains, \
                         matches, in), or `&&` / `||`"
                    ),
                );
            }
            i.reset(&before_op);
            Check::Exists
        }
    };
    Ok(Test { field, check })
}

enum Op {
    Cmp(CmpOp, &'static str),
    Contains(&'static str),
    Matches(&'static str),
    In(&'static str),
}

fn operator(i: &mut In<'_>) -> PResult<Option<Op>> {
    const SYMBOLS: [(&str, CmpOp); 6] = [
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ];
    const WORDS: [(&str, CmpOp); 6] = [
        ("eq", CmpOp::Eq),
        ("ne", CmpOp::Ne),
        ("le", CmpOp::Le),
        ("ge", CmpOp::Ge),
        ("lt", CmpOp::Lt),
        ("gt", CmpOp::Gt),
    ];
    let r = rest(i);
    for (sym, op) in SYMBOLS {
        if r.starts_with(sym) {
            i.next_slice(sym.len());
            return Ok(Some(Op::Cmp(op, sym)));
        }
    }
    if r.starts_with('~') {
        i.next_slice(1);
        return Ok(Some(Op::Matches("~")));
    }
    if r.starts_with('=') {
        return cut(pos(i), "`=` is not an operator; write `==`");
    }
    for (word, op) in WORDS {
        if keyword(i, word).is_ok() {
            return Ok(Some(Op::Cmp(op, word)));
        }
    }
    if keyword(i, "contains").is_ok() {
        return Ok(Some(Op::Contains("contains")));
    }
    if keyword(i, "matches").is_ok() {
        return Ok(Some(Op::Matches("matches")));
    }
    if keyword(i, "in").is_ok() {
        return Ok(Some(Op::In("in")));
    }
    Ok(None)
}

/// The value after the operator `after`.
fn value(i: &mut In<'_>, after: &str) -> PResult<Literal> {
    ws(i)?;
    let at = pos(i);
    required(
        literal_value(i),
        at,
        format!("expected a value after `{after}`"),
    )
}

fn literal_value(i: &mut In<'_>) -> PResult<Literal> {
    let r = rest(i);
    if r.starts_with('"') || r.starts_with("r\"") {
        return quoted(i);
    }
    bare(i)
}

fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-')
}

/// An unquoted literal: the longest run of literal characters that does not run into `..`.
fn bare(i: &mut In<'_>) -> PResult<Literal> {
    let at = pos(i);
    let r = rest(i);
    let mut len = 0;
    for (k, c) in r.char_indices() {
        if !is_literal_char(c) || r[k..].starts_with("..") {
            break;
        }
        len = k + c.len_utf8();
    }
    if len == 0 {
        return Err(ErrMode::Backtrack(Problem::from_input(i)));
    }
    let text = i.next_slice(len);
    let span = Span::new(at, pos(i));
    match classify(text) {
        Ok(value) => Ok(Literal { value, span }),
        Err(msg) => cut(at, msg),
    }
}

/// An unquoted literal read as an integer, a float or a word.
pub fn classify(text: &str) -> Result<LitValue, String> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let int = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u128::from_str_radix(hex, 16))
    } else {
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<u128>())
    };
    if let Some(n) = int {
        let too_big = || format!("`{text}` is out of range: integers are 64 bits");
        let n = n.map_err(|_| too_big())?;
        let n = i128::try_from(n).map_err(|_| too_big())?;
        let n = if neg { -n } else { n };
        if n < i128::from(i64::MIN) || n > i128::from(u64::MAX) {
            return Err(too_big());
        }
        return Ok(LitValue::Int(n));
    }
    let numeric_start = {
        let mut b = digits.bytes();
        match b.next() {
            Some(c) if c.is_ascii_digit() => true,
            Some(b'.') => b.next().is_some_and(|c| c.is_ascii_digit()),
            _ => false,
        }
    };
    if numeric_start && let Ok(x) = text.parse::<f64>() {
        if !x.is_finite() {
            return Err(format!("`{text}` is out of range for a number"));
        }
        // More digits than a float holds (a time to the nanosecond): kept as written, for the
        // field to read exactly.
        if significant(text) != significant(&format!("{x:?}")) {
            return Ok(LitValue::Word(text.to_string()));
        }
        return Ok(LitValue::Float(x));
    }
    Ok(LitValue::Word(text.to_string()))
}

/// The significant digits of a decimal number (`0.0012e3` → `12`).
fn significant(text: &str) -> String {
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string()
}

/// A quoted string (`"…"` with escapes) or a raw one (`r"…"`, no escapes).
fn quoted(i: &mut In<'_>) -> PResult<Literal> {
    let at = pos(i);
    let raw = rest(i).starts_with('r');
    i.next_slice(if raw { 2 } else { 1 });
    let r = rest(i);
    let mut out = Vec::new();
    let mut chars = r.char_indices();
    let unterminated = || cut(at, "this string has no closing `\"`");
    let end = loop {
        let Some((k, c)) = chars.next() else {
            return unterminated();
        };
        match c {
            '"' => break k,
            '\\' if !raw => {
                let esc_at = pos(i) + k;
                let Some((_, e)) = chars.next() else {
                    return unterminated();
                };
                match e {
                    '"' => out.push(b'"'),
                    '\\' => out.push(b'\\'),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    '0' => out.push(0),
                    'x' => {
                        let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                        match u8::from_str_radix(&hex, 16) {
                            Ok(b) if hex.len() == 2 && !hex.starts_with('+') => out.push(b),
                            _ => {
                                return cut(esc_at, "`\\x` takes two hex digits (`\\x1b`)");
                            }
                        }
                    }
                    'u' => {
                        let bad = || cut(esc_at, "`\\u` takes hex digits in braces (`\\u{e9}`)");
                        if chars.next().map(|(_, c)| c) != Some('{') {
                            return bad();
                        }
                        let mut hex = String::new();
                        loop {
                            match chars.next() {
                                Some((_, '}')) => break,
                                Some((_, c)) if c.is_ascii_hexdigit() && hex.len() < 6 => {
                                    hex.push(c)
                                }
                                _ => return bad(),
                            }
                        }
                        let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        match c {
                            Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                            None => {
                                return cut(esc_at, format!("`\\u{{{hex}}}` is not a character"));
                            }
                        }
                    }
                    other => {
                        return cut(
                            esc_at,
                            format!(
                                "unknown escape `\\{}`; write `\\\\` for a backslash (or use \
                                 r\"…\", which takes no escapes)",
                                other.escape_debug()
                            ),
                        );
                    }
                }
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    };
    i.next_slice(end + 1);
    Ok(Literal {
        value: LitValue::Str(out),
        span: Span::new(at, pos(i)),
    })
}

/// `{ item, item, lo..hi }` after `in`.
fn set(i: &mut In<'_>, after: &str) -> PResult<Vec<SetItem>> {
    ws(i)?;
    let open = pos(i);
    if !rest(i).starts_with('{') {
        return cut(open, format!("expected `{{` after `{after}`"));
    }
    i.next_slice(1);
    let mut items = Vec::new();
    loop {
        ws(i)?;
        if rest(i).starts_with('}') {
            if items.is_empty() {
                return cut(pos(i), "an empty set; list at least one value");
            }
            i.next_slice(1);
            return Ok(items);
        }
        let at = pos(i);
        let Ok(lo) = literal_value(i) else {
            let msg = if items.is_empty() {
                "expected a value"
            } else {
                "expected a value or `}`"
            };
            return Err(ErrMode::Cut(Problem {
                at,
                msg: msg.into(),
                note: Some(("in the set opened at", open)),
            }));
        };
        ws(i)?;
        if rest(i).starts_with("..") {
            i.next_slice(2);
            let hi = value(i, "..")?;
            items.push(SetItem::Range(lo, hi));
        } else {
            items.push(SetItem::One(lo));
        }
        ws(i)?;
        if rest(i).starts_with(',') {
            i.next_slice(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Expr {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn err(text: &str) -> (usize, String) {
        let p = parse(text).expect_err(text);
        let mut msg = p.msg;
        if let Some((note, at)) = p.note {
            msg = format!("{msg} {note} {at}");
        }
        (p.at, msg)
    }

    #[test]
    fn each_construct_parses_to_its_canonical_form() {
        for (text, canonical) in [
            ("ws", "ws"),
            ("http.status >= 500", "http.status >= 500"),
            ("http.status>=500", "http.status >= 500"),
            ("a == 1 && b != 2", "a == 1 && b != 2"),
            ("a and b or c", "a && b || c"),
            ("a || b && c", "a || b && c"),
            ("(a || b) && c", "(a || b) && c"),
            ("a && (b && c)", "a && (b && c)"),
            ("((a))", "a"),
            ("!a", "!a"),
            ("not a", "!a"),
            ("! ! a", "!!a"),
            ("!(a && b)", "!(a && b)"),
            ("a eq 1 or b ne 2", "a == 1 || b != 2"),
            (
                "a lt 1 && b le 2 && c gt 3 && d ge 4",
                "a < 1 && b <= 2 && c > 3 && d >= 4",
            ),
            ("a < 1 && b <= 2", "a < 1 && b <= 2"),
            ("ws.text contains \"error\"", "ws.text contains \"error\""),
            ("http.uri matches \"^/api/\"", "http.uri matches \"^/api/\""),
            ("http.uri ~ r\"^/a\\d\"", "http.uri matches \"^/a\\\\d\""),
            (
                "tcp.port in {80, 443, 8000..8100}",
                "tcp.port in {80, 443, 8000..8100}",
            ),
            ("tcp.port in {80 443}", "tcp.port in {80, 443}"),
            ("tcp.port in {80,}", "tcp.port in {80}"),
            ("a == 0x1F", "a == 31"),
            ("a == -5", "a == -5"),
            ("a == 1.5", "a == 1.5"),
            ("a == 2e3", "a == 2000.0"),
            ("a == .5", "a == 0.5"),
            ("flow.kind == long-poll", "flow.kind == long-poll"),
            ("flow.client == 10.0.0.0/8", "flow.client == 10.0.0.0/8"),
            ("ip.addr == ::1", "ip.addr == ::1"),
            ("ws.mask == a1:b2:c3:d4", "ws.mask == a1:b2:c3:d4"),
            (
                "anomaly.code == ws.invalid_utf8",
                "anomaly.code == ws.invalid_utf8",
            ),
            (
                "http.header.content-type contains json",
                "http.header.content-type contains json",
            ),
            ("a == \"\\x00\\u{e9}\\t\"", "a == \"\\u{0}é\\t\""),
            ("a == and", "a == and"),
            ("  a\n&&\tb  ", "a && b"),
            ("a==1||b==2", "a == 1 || b == 2"),
            ("a in {1..2}", "a in {1..2}"),
            ("a in {1.5..2.5}", "a in {1.5..2.5}"),
        ] {
            assert_eq!(ok(text).to_string(), canonical, "{text}");
        }
    }

    #[test]
    fn operands_of_one_operator_are_collected() {
        let Expr::And(v) = ok("a && b && c") else {
            panic!("and")
        };
        assert_eq!(v.len(), 3);
        let Expr::Or(v) = ok("a || b && c || d") else {
            panic!("or")
        };
        assert_eq!(v.len(), 3);
        assert!(matches!(v[1], Expr::And(_)));
    }

    #[test]
    fn literals_are_classified() {
        for (text, want) in [
            ("12", LitValue::Int(12)),
            ("-0x10", LitValue::Int(-16)),
            ("18446744073709551615", LitValue::Int(u64::MAX.into())),
            ("-9223372036854775808", LitValue::Int(i64::MIN.into())),
            ("1.25", LitValue::Float(1.25)),
            ("1e-3", LitValue::Float(0.001)),
            ("text", LitValue::Word("text".into())),
            ("inf", LitValue::Word("inf".into())),
            ("nan", LitValue::Word("nan".into())),
            ("10.0.0.1", LitValue::Word("10.0.0.1".into())),
            ("0x", LitValue::Word("0x".into())),
            ("2024-05-01", LitValue::Word("2024-05-01".into())),
        ] {
            assert_eq!(classify(text), Ok(want), "{text}");
        }
        assert!(classify("18446744073709551616").is_err());
        assert!(classify("-9223372036854775809").is_err());
        assert!(classify("99999999999999999999999999999999999999999").is_err());
        assert!(classify("1e999").is_err());
    }

    #[test]
    fn errors_point_at_the_column() {
        for (text, at, says) in [
            ("", 0, "an empty filter"),
            ("   ", 3, "an empty filter"),
            ("http.status ==", 14, "expected a value after `==`"),
            ("http.status == )", 15, "expected a value after `==`"),
            ("a eq", 4, "expected a value after `eq`"),
            ("a &&", 4, "expected a test after `&&`"),
            ("a and", 5, "expected a test after `and`"),
            ("a || && b", 5, "expected a test after `||`"),
            ("a && or", 5, "expected a test after `&&`"),
            ("!", 1, "expected a test after `!`"),
            ("not )", 4, "expected a test after `not`"),
            ("== 5", 0, "expected a field name, `!` or `(`"),
            ("5", 0, "expected a field name, `!` or `(`"),
            ("(a", 2, "expected `)` to close the `(` at 0"),
            ("(a b)", 3, "expected an operator after `a`"),
            (
                "(a == 1 2)",
                8,
                "expected `&&`, `||` or `)` to close the `(` at 0",
            ),
            ("()", 1, "expected a test after `(`"),
            ("a)", 1, "this `)` has no `(`"),
            (
                "a == 1 2",
                7,
                "expected `&&`, `||` or the end of the filter",
            ),
            ("a & b", 2, "`&` is not an operator"),
            ("a | b", 2, "`|` is not an operator"),
            ("a = 1", 2, "`=` is not an operator; write `==`"),
            (
                "http.status 200",
                12,
                "expected an operator after `http.status`",
            ),
            ("a == \"abc", 5, "no closing"),
            ("a == \"a\\qb\"", 7, "unknown escape `\\q`"),
            ("a == \"\\x4\"", 6, "two hex digits"),
            ("a == \"\\u{110000}\"", 6, "is not a character"),
            ("a == \"\\u12\"", 6, "hex digits in braces"),
            (
                "a matches abc",
                10,
                "expected a quoted regular expression after `matches`",
            ),
            ("a in 1", 5, "expected `{` after `in`"),
            ("a in {}", 6, "an empty set"),
            (
                "a in {1, )",
                9,
                "expected a value or `}` in the set opened at 5",
            ),
            ("a in {1..}", 9, "expected a value after `..`"),
            ("a == 99999999999999999999", 5, "out of range"),
            ("a == 1e400", 5, "out of range"),
        ] {
            let (got_at, msg) = err(text);
            assert!(msg.contains(says), "{text:?}: {msg}");
            assert_eq!(got_at, at, "{text:?}: {msg}");
        }
    }

    #[test]
    fn nesting_is_limited() {
        let deep = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&deep).is_ok());
        let too_deep = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(err(&too_deep).1.contains("nested too deeply"));
        let bangs = format!("{}a", "!".repeat(100_000));
        assert!(err(&bangs).1.contains("nested too deeply"));
        // Long flat chains are not nesting.
        let chain = vec!["a"; 10_000].join(" && ");
        let Expr::And(v) = ok(&chain) else {
            panic!("and")
        };
        assert_eq!(v.len(), 10_000);
    }
}
