//! From syntax tree to something that runs: every name resolved to a [`FieldId`], every
//! literal converted to the field's type, every operator checked against it, every regular
//! expression and substring search built once. A filter that cannot match any record (its
//! `&&` joins fields no record carries together) is refused here too, with the reason.

use super::ast::{Check, CmpOp, Expr, LitValue, Literal, SetItem, Test};
use super::fields::{self, EnumDef, FieldDef, FieldId, RecordSet, Type};
use super::parse::Problem;
use memchr::memmem::Finder;
use std::net::IpAddr;

/// Compiled size allowed for one regular expression (and for its lazy DFA cache).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A compiled expression.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Test(Box<CTest>),
}

/// A compiled test: which field (and key), the records that carry it, and the operation.
#[derive(Clone, Debug)]
pub(crate) struct CTest {
    pub field: FieldId,
    pub key: Option<Box<str>>,
    pub records: RecordSet,
    pub op: COp,
}

#[derive(Clone, Debug)]
pub(crate) enum COp {
    /// The field is present.
    Exists,
    /// A bool field is present and true.
    IsTrue,
    Cmp(CmpOp, Operand),
    Contains(Box<Finder<'static>>),
    Matches(regex::Regex),
    MatchesBytes(regex::bytes::Regex),
    /// Values and `lo..=hi` ranges.
    In(Vec<(Operand, Option<Operand>)>),
}

/// A literal converted to its field's type.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(Box<str>),
    Bytes(Box<[u8]>),
    Sym {
        name: Box<str>,
        /// Position among the enum's values of today (`None` for a planned value).
        pos: Option<usize>,
        def: &'static EnumDef,
    },
    /// An address and a prefix length: the block it stands for.
    Net(IpAddr, u8),
    /// Nanoseconds since the epoch.
    Time(i64),
}

/// The result of compiling an expression.
pub(crate) struct Compiled {
    pub root: Node,
    /// The record types the filter can match.
    pub records: RecordSet,
}

type CResult<T> = Result<T, Problem>;

fn problem<T>(at: usize, msg: impl Into<String>) -> CResult<T> {
    Err(Problem {
        at,
        msg: msg.into(),
        note: None,
    })
}

pub(crate) fn compile(expr: &Expr) -> CResult<Compiled> {
    let (root, records) = node(expr)?;
    Ok(Compiled { root, records })
}

/// Offset where an expression's text starts.
fn start(e: &Expr) -> usize {
    match e {
        Expr::Or(v) | Expr::And(v) => v.first().map_or(0, start),
        Expr::Not(_, span) => span.start,
        Expr::Test(t) => t.field.span.start,
    }
}

fn node(e: &Expr) -> CResult<(Node, RecordSet)> {
    match e {
        Expr::Or(v) => {
            let mut nodes = Vec::with_capacity(v.len());
            let mut records = RecordSet::EMPTY;
            for e in v {
                let (n, r) = node(e)?;
                nodes.push(n);
                records = records.union(r);
            }
            Ok((Node::Or(nodes), records))
        }
        Expr::And(v) => {
            let mut nodes = Vec::with_capacity(v.len());
            let mut records = RecordSet::ALL;
            for e in v {
                let (n, r) = node(e)?;
                let both = records.intersect(r);
                if both.is_empty() {
                    return problem(
                        start(e),
                        format!(
                            "no record can match this together with what comes before it: this \
                             part is only on {r} records, the tests before it only on {records} \
                             records (see `sockscope fields`; use `||` to show both)"
                        ),
                    );
                }
                records = both;
                nodes.push(n);
            }
            Ok((Node::And(nodes), records))
        }
        // `!x` holds on every record that `x` does not match, whatever its type.
        Expr::Not(e, _) => Ok((Node::Not(Box::new(node(e)?.0)), RecordSet::ALL)),
        Expr::Test(t) => {
            let t = test(t)?;
            let records = t.records;
            Ok((Node::Test(Box::new(t)), records))
        }
    }
}

fn test(t: &Test) -> CResult<CTest> {
    let name = t.field.text.as_str();
    let at = t.field.span.start;
    let Some(resolved) = fields::lookup(name) else {
        let mut msg = format!("unknown field `{name}`");
        if let Some(s) = fields::suggest(name) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        msg.push_str(" (`sockscope fields` lists them)");
        return problem(at, msg);
    };
    let def = fields::def(resolved.id);
    let op = match &t.check {
        Check::Exists => match def.ty {
            Type::Bool => COp::IsTrue,
            _ => COp::Exists,
        },
        Check::Compare(op, lit) => {
            refuse_protocol(def, at)?;
            if op.is_ordering() && !orders(def.ty) {
                return problem(
                    lit.span.start,
                    format!(
                        "`{}` cannot be ordered: `{name}` is {} and takes `==` and `!=` (or `in`)",
                        op.symbol(),
                        a_type(def.ty)
                    ),
                );
            }
            COp::Cmp(*op, operand(def, name, lit)?)
        }
        Check::Contains(lit) => {
            refuse_protocol(def, at)?;
            COp::Contains(Box::new(Finder::new(&needle(def, name, lit)?).into_owned()))
        }
        Check::Matches(lit) => {
            refuse_protocol(def, at)?;
            regex_op(def, name, lit)?
        }
        Check::In(items) => {
            refuse_protocol(def, at)?;
            let mut set = Vec::with_capacity(items.len());
            for item in items {
                set.push(match item {
                    SetItem::One(l) => (operand(def, name, l)?, None),
                    SetItem::Range(lo, hi) => range(def, name, lo, hi)?,
                });
            }
            COp::In(set)
        }
    };
    Ok(CTest {
        field: resolved.id,
        key: resolved.key.map(Box::from),
        records: def.records,
        op,
    })
}

/// `an integer`, `a string`, `an enum`, …
fn a_type(ty: Type) -> String {
    let name = ty.name();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

fn orders(ty: Type) -> bool {
    match ty {
        Type::Int | Type::Float | Type::Time | Type::Str | Type::Bytes => true,
        Type::Enum(e) => e.ordered,
        Type::Bool | Type::Addr | Type::Protocol => false,
    }
}

fn refuse_protocol(def: &FieldDef, at: usize) -> CResult<()> {
    if matches!(def.ty, Type::Protocol) {
        return problem(
            at,
            format!(
                "`{}` has no value to compare: it tests what a record is; write it alone (`{} && …`)",
                def.name, def.name
            ),
        );
    }
    Ok(())
}

/// The literal as text, for messages.
fn shown(lit: &Literal) -> String {
    lit.value.to_string()
}

fn operand(def: &FieldDef, name: &str, lit: &Literal) -> CResult<Operand> {
    let at = lit.span.start;
    let v = &lit.value;
    let wrong = |what: String| problem(at, what);
    match def.ty {
        Type::Protocol => refuse_protocol(def, at).map(|()| Operand::Bool(true)),
        Type::Bool => match v {
            LitValue::Word(w) if w == "true" => Ok(Operand::Bool(true)),
            LitValue::Word(w) if w == "false" => Ok(Operand::Bool(false)),
            LitValue::Int(1) => Ok(Operand::Bool(true)),
            LitValue::Int(0) => Ok(Operand::Bool(false)),
            _ => wrong(format!(
                "`{name}` is a bool: compare it with true or false (or write `{name}` / `!{name}`)"
            )),
        },
        Type::Int => match v {
            LitValue::Int(n) => Ok(Operand::Int(*n)),
            LitValue::Float(_) => wrong(format!(
                "`{}` is not a whole number, and `{name}` is an integer",
                shown(lit)
            )),
            LitValue::Str(_) => wrong(format!(
                "`{name}` is an integer: write the number without quotes"
            )),
            LitValue::Word(w) => {
                wrong(format!("`{w}` is not a number, and `{name}` is an integer"))
            }
        },
        Type::Float => match v {
            LitValue::Int(n) => Ok(Operand::Float(*n as f64)),
            LitValue::Float(x) => Ok(Operand::Float(*x)),
            // A number with more digits than a float keeps.
            LitValue::Word(w) if decimal_nanos(w).is_some() => match w.parse::<f64>() {
                Ok(x) => Ok(Operand::Float(x)),
                Err(_) => wrong(format!("`{name}` is a number: `{w}` is not one")),
            },
            _ => wrong(format!(
                "`{name}` is a number: write one without quotes (`1.5`)"
            )),
        },
        Type::Str => match v {
            LitValue::Str(b) => match std::str::from_utf8(b) {
                Ok(s) => Ok(Operand::Str(s.into())),
                Err(_) => wrong(format!(
                    "this is not UTF-8 text, and `{name}` is a string (`\\xNN` above 7f makes \
                     bytes; write the character or `\\u{{…}}`)"
                )),
            },
            LitValue::Word(w) => Ok(Operand::Str(w.as_str().into())),
            LitValue::Int(_) | LitValue::Float(_) => wrong(format!(
                "`{name}` is a string: quote the value (`\"{}\"`)",
                shown(lit)
            )),
        },
        Type::Bytes => match v {
            LitValue::Str(b) => Ok(Operand::Bytes(b.as_slice().into())),
            LitValue::Word(w) => match hex_bytes(w) {
                Some(b) => Ok(Operand::Bytes(b.into())),
                None => wrong(bytes_hint(name)),
            },
            LitValue::Int(_) | LitValue::Float(_) => wrong(bytes_hint(name)),
        },
        Type::Enum(e) => {
            let text = match v {
                LitValue::Word(w) => Some(w.clone()),
                LitValue::Str(b) => std::str::from_utf8(b).ok().map(str::to_string),
                LitValue::Int(n) if e.numbered => usize::try_from(*n)
                    .ok()
                    .and_then(|n| e.values().get(n))
                    .map(|s| s.to_string()),
                _ => None,
            };
            match text {
                Some(t) if e.accepts(&t) => Ok(Operand::Sym {
                    pos: e.position(&t),
                    name: t.into(),
                    def: e,
                }),
                _ => wrong(unknown_value(e, name, &shown(lit))),
            }
        }
        Type::Addr => {
            let text = match v {
                LitValue::Word(w) => Some(w.clone()),
                LitValue::Str(b) => std::str::from_utf8(b).ok().map(str::to_string),
                _ => None,
            };
            match text.as_deref().and_then(net) {
                Some((ip, bits)) => Ok(Operand::Net(ip, bits)),
                None => wrong(format!(
                    "`{}` is not an IP address or CIDR block (`10.0.0.1`, `10.0.0.0/8`, `::1`)",
                    shown(lit)
                )),
            }
        }
        Type::Time => {
            let hint = || {
                format!(
                    "`{name}` is a time: write seconds since the epoch (`1714557600.25`) or a UTC \
                     date (`2024-05-01`, `2024-05-01T10:00:00`, `\"2024-05-01 10:00:00.5\"`)"
                )
            };
            let nanos = match v {
                LitValue::Int(n) => n
                    .checked_mul(1_000_000_000)
                    .and_then(|n| i64::try_from(n).ok()),
                LitValue::Float(x) => decimal_nanos(&format!("{x:?}")),
                LitValue::Word(w) => utc_nanos(w).or_else(|| decimal_nanos(w)),
                LitValue::Str(b) => std::str::from_utf8(b).ok().and_then(utc_nanos),
            };
            match nanos {
                Some(n) => Ok(Operand::Time(n)),
                None => wrong(hint()),
            }
        }
    }
}

fn bytes_hint(name: &str) -> String {
    format!(
        "`{name}` is bytes: write hex pairs (`a1:b2:c3`, `a1b2c3`) or a quoted string (`\"GET\"`, \
         `\"\\x00\\xff\"`)"
    )
}

fn unknown_value(e: &EnumDef, name: &str, value: &str) -> String {
    let mut msg = format!("`{value}` is not a value of `{name}`");
    let nearest = e
        .values()
        .iter()
        .chain(e.planned)
        .map(|v| (strsim::jaro_winkler(value, v), *v))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, v)) = nearest {
        msg.push_str(&format!("; did you mean `{v}`?"));
    }
    msg.push_str(&format!(" (values: {})", e.describe()));
    msg
}

/// Hex bytes: pairs separated by `:`, `-` or `.`, or one run of pairs.
fn hex_bytes(w: &str) -> Option<Vec<u8>> {
    let pairs: Vec<&str> = if w.contains([':', '-', '.']) {
        w.split([':', '-', '.']).collect()
    } else {
        if !w.len().is_multiple_of(2) {
            return None;
        }
        (0..w.len())
            .step_by(2)
            .map(|k| w.get(k..k + 2))
            .collect::<Option<_>>()?
    };
    pairs
        .iter()
        .map(|p| {
            (p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect()
}

/// `10.0.0.1`, `10.0.0.0/8`, `::1`, `fe80::/10`.
fn net(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

/// Whether `ip` lies in the block `net/bits`.
pub(crate) fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Seconds written in decimal (`1714557600.123456`, `1.5e9`) as nanoseconds, exactly: a float
/// near 1.7e9 cannot hold nanoseconds, but its shortest decimal form is what was written.
fn decimal_nanos(s: &str) -> Option<i64> {
    let (mantissa, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // value = digits × 10^(exp - frac.len()); nanoseconds = value × 10^9.
    let scale = exp
        .checked_sub(i32::try_from(frac.len()).ok()?)?
        .checked_add(9)?;
    let mut n: i128 = digits.parse().ok()?;
    if scale >= 0 {
        n = n.checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?)?;
    } else {
        let div = 10i128
            .checked_pow(u32::try_from(-scale).ok()?)
            .unwrap_or(i128::MAX);
        n = (n + div / 2) / div;
    }
    i64::try_from(if neg { -n } else { n }).ok()
}

/// A UTC date, `YYYY-MM-DD` with an optional `[T ]HH:MM[:SS[.frac]]` and `Z`, as nanoseconds
/// since the epoch.
pub(crate) fn utc_nanos(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let num = |t: &str, len: usize| -> Option<i64> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&day) {
        return None;
    }
    let mut nanos = 0i64;
    if let Some(t) = time {
        let (hms, frac) = match t.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (t, None),
        };
        let mut p = hms.split(':');
        let h = num(p.next()?, 2)?;
        let min = num(p.next()?, 2)?;
        let sec = match p.next() {
            Some(x) => num(x, 2)?,
            None => 0,
        };
        if p.next().is_some() || h > 23 || min > 59 || sec > 60 {
            return None;
        }
        nanos = (h * 3600 + min * 60 + sec) * 1_000_000_000;
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits: i64 = f.parse().ok()?;
            nanos += digits * 10i64.pow(9 - f.len() as u32);
        }
    }
    days_from_civil(y, m, day)
        .checked_mul(86_400_000_000_000)?
        .checked_add(nanos)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What `contains` looks for, as bytes.
fn needle(def: &FieldDef, name: &str, lit: &Literal) -> CResult<Vec<u8>> {
    let at = lit.span.start;
    match (def.ty, &lit.value) {
        (Type::Str | Type::Enum(_) | Type::Bytes, LitValue::Str(b)) => Ok(b.clone()),
        (Type::Bytes, LitValue::Word(w)) => {
            hex_bytes(w).map_or_else(|| problem(at, bytes_hint(name)), Ok)
        }
        (Type::Bytes, _) => problem(at, bytes_hint(name)),
        (Type::Str | Type::Enum(_), LitValue::Word(w)) => Ok(w.as_bytes().to_vec()),
        (Type::Str | Type::Enum(_), _) => problem(
            at,
            format!(
                "`{name}` is text: quote what to look for (`\"{}\"`)",
                shown(lit)
            ),
        ),
        (ty, _) => problem(
            at,
            format!(
                "`contains` looks into strings and bytes, and `{name}` is {}",
                a_type(ty)
            ),
        ),
    }
}

fn regex_op(def: &FieldDef, name: &str, lit: &Literal) -> CResult<COp> {
    let at = lit.span.start;
    let LitValue::Str(pattern) = &lit.value else {
        return problem(at, "expected a quoted regular expression");
    };
    let Ok(pattern) = std::str::from_utf8(pattern) else {
        return problem(
            at,
            "a regular expression must be UTF-8 text (match bytes with `\\xNN`)",
        );
    };
    let explain = |e: regex::Error| -> Problem {
        let msg = match e {
            regex::Error::CompiledTooBig(limit) => {
                format!(
                    "the regular expression is too large (its compiled form exceeds {limit} bytes)"
                )
            }
            e => {
                let text = e.to_string();
                let why = text
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(text.as_str())
                    .to_string();
                format!("invalid regular expression: {why}")
            }
        };
        Problem {
            at,
            msg,
            note: None,
        }
    };
    match def.ty {
        Type::Str | Type::Enum(_) => regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(COp::Matches)
            .map_err(explain),
        Type::Bytes => regex::bytes::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(COp::MatchesBytes)
            .map_err(explain),
        ty => problem(
            at,
            format!(
                "`matches` applies to strings and bytes, and `{name}` is {}",
                a_type(ty)
            ),
        ),
    }
}

fn range(
    def: &FieldDef,
    name: &str,
    lo: &Literal,
    hi: &Literal,
) -> CResult<(Operand, Option<Operand>)> {
    if !matches!(def.ty, Type::Int | Type::Float | Type::Time) {
        return problem(
            lo.span.start,
            format!(
                "a range needs numbers or times, and `{name}` is {}",
                a_type(def.ty)
            ),
        );
    }
    let (a, b) = (operand(def, name, lo)?, operand(def, name, hi)?);
    let backwards = match (&a, &b) {
        (Operand::Int(x), Operand::Int(y)) => x > y,
        (Operand::Float(x), Operand::Float(y)) => x > y,
        (Operand::Time(x), Operand::Time(y)) => x > y,
        _ => false,
    };
    if backwards {
        return problem(
            lo.span.start,
            format!(
                "the range {}..{} runs backwards; write the low end first",
                shown(lo),
                shown(hi)
            ),
        );
    }
    Ok((a, Some(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_bytes_take_the_usual_spellings() {
        assert_eq!(hex_bytes("a1:b2:c3:d4"), Some(vec![0xa1, 0xb2, 0xc3, 0xd4]));
        assert_eq!(hex_bytes("a1-b2"), Some(vec![0xa1, 0xb2]));
        assert_eq!(hex_bytes("a1b2c3d4"), Some(vec![0xa1, 0xb2, 0xc3, 0xd4]));
        assert_eq!(hex_bytes("a1b"), None);
        assert_eq!(hex_bytes("a1:b"), None);
        assert_eq!(hex_bytes("zz"), None);
        assert_eq!(hex_bytes("é1"), None);
    }

    #[test]
    fn blocks_contain_their_addresses() {
        let (n, b) = net("10.0.0.0/8").unwrap();
        assert!(in_net("10.1.2.3".parse().unwrap(), n, b));
        assert!(!in_net("11.0.0.1".parse().unwrap(), n, b));
        assert!(in_net("::ffff:10.0.0.1".parse().unwrap(), n, b));
        let (n, b) = net("fe80::/10").unwrap();
        assert!(in_net("fe80::1".parse().unwrap(), n, b));
        assert!(!in_net("10.0.0.1".parse().unwrap(), n, b));
        let (n, b) = net("0.0.0.0/0").unwrap();
        assert!(in_net("1.2.3.4".parse().unwrap(), n, b));
        assert_eq!(net("10.0.0.1/33"), None);
        assert_eq!(net("10.0.0"), None);
        let (n, b) = net("192.0.2.1").unwrap();
        assert_eq!(b, 32);
        assert!(in_net("192.0.2.1".parse().unwrap(), n, b));
        assert!(!in_net("192.0.2.2".parse().unwrap(), n, b));
    }

    #[test]
    fn decimal_seconds_are_exact_nanoseconds() {
        for (text, want) in [
            ("1714557600.123456", Some(1_714_557_600_123_456_000)),
            ("0.5", Some(500_000_000)),
            ("1.5e9", Some(1_500_000_000_000_000_000)),
            ("1e-9", Some(1)),
            ("1e-10", Some(0)),
            ("-1.25", Some(-1_250_000_000)),
            ("1e300", None),
            ("9223372037.0", None),
        ] {
            assert_eq!(decimal_nanos(text), want, "{text}");
        }
        let x: f64 = 1714557600.123456;
        assert_eq!(
            decimal_nanos(&format!("{x:?}")),
            Some(1_714_557_600_123_456_000)
        );
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_nanos("1970-01-01"), Some(0));
        assert_eq!(utc_nanos("1970-01-02T00:00:01Z"), Some(86_401_000_000_000));
        assert_eq!(
            utc_nanos("2024-05-01 10:00:00.5"),
            Some(1_714_557_600_500_000_000)
        );
        assert_eq!(utc_nanos("2024-02-29"), Some(1_709_164_800_000_000_000));
        assert_eq!(utc_nanos("2023-02-29"), None);
        assert_eq!(utc_nanos("2024-13-01"), None);
        assert_eq!(utc_nanos("2024-05-01T25:00"), None);
        assert_eq!(utc_nanos("2024-5-1"), None);
        assert_eq!(utc_nanos("1969-12-31T23:59:59"), Some(-1_000_000_000));
        assert_eq!(utc_nanos("2024-05-01T10:00:00.1234567890"), None);
    }
}
