//! Segment filters: a small expression language over a contact's attributes and tags.
//!
//! ```text
//! attr.balance >= 100 and not tag = promise_to_pay
//! (locale = "es" or region in [MX, AR]) and attr.due_date < 2026-12-01
//! tag.nps_detractor and attr.plan exists
//! ```
//!
//! Text is parsed once into an expression tree and evaluated in memory against each
//! contact; it never becomes SQL. A missing attribute makes every comparison on it false
//! (`!=` included), as SQL's NULL would.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::contact::{AttributeValue, Contact};

/// A parsed segment filter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    source: String,
    expr: Expr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Expr {
    And {
        all: Vec<Expr>,
    },
    Or {
        any: Vec<Expr>,
    },
    Not {
        expr: Box<Expr>,
    },
    HasTag {
        tag: String,
    },
    Exists {
        field: Field,
    },
    Compare {
        field: Field,
        cmp: Cmp,
        value: Literal,
    },
    In {
        field: Field,
        values: Vec<Literal>,
    },
}

/// What a predicate reads from a contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Field {
    Attr(String),
    Locale,
    Timezone,
    Region,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Literal {
    Number(f64),
    Bool(bool),
    Date(NaiveDate),
    Text(String),
}

/// A parse error with the 1-based column it was found at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl Segment {
    pub fn parse(text: &str) -> Result<Segment, SegmentError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            len: text.chars().count(),
        };
        let expr = parser.or()?;
        if let Some(tok) = parser.peek() {
            return Err(SegmentError {
                column: tok.column,
                message: format!(
                    "unexpected `{}`: expected `and`, `or` or the end of the filter",
                    tok.text
                ),
            });
        }
        Ok(Segment {
            source: text.trim().to_string(),
            expr,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    pub fn matches(&self, contact: &Contact, now: DateTime<Utc>) -> bool {
        eval(&self.expr, contact, now)
    }

    /// Every tag the filter reads, for validation against the known tags.
    pub fn tags(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(&self.expr, &mut |e| {
            if let Expr::HasTag { tag } = e {
                out.insert(tag.clone());
            }
        });
        out
    }

    /// Every attribute the filter reads.
    pub fn attributes(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(&self.expr, &mut |e| match e {
            Expr::Exists {
                field: Field::Attr(a),
            }
            | Expr::Compare {
                field: Field::Attr(a),
                ..
            }
            | Expr::In {
                field: Field::Attr(a),
                ..
            } => {
                out.insert(a.clone());
            }
            _ => {}
        });
        out
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn walk(expr: &Expr, visit: &mut impl FnMut(&Expr)) {
    visit(expr);
    match expr {
        Expr::And { all: list } | Expr::Or { any: list } => {
            list.iter().for_each(|e| walk(e, visit))
        }
        Expr::Not { expr } => walk(expr, visit),
        _ => {}
    }
}

fn eval(expr: &Expr, contact: &Contact, now: DateTime<Utc>) -> bool {
    match expr {
        Expr::And { all } => all.iter().all(|e| eval(e, contact, now)),
        Expr::Or { any } => any.iter().any(|e| eval(e, contact, now)),
        Expr::Not { expr } => !eval(expr, contact, now),
        Expr::HasTag { tag } => contact.has_tag(tag, now),
        Expr::Exists { field } => read(field, contact).is_some(),
        Expr::Compare { field, cmp, value } => {
            read(field, contact).is_some_and(|v| compare(&v, value).is_some_and(|o| cmp.holds(o)))
        }
        Expr::In { field, values } => read(field, contact).is_some_and(|v| {
            values
                .iter()
                .any(|l| compare(&v, l) == Some(std::cmp::Ordering::Equal))
        }),
    }
}

fn read(field: &Field, contact: &Contact) -> Option<AttributeValue> {
    match field {
        Field::Attr(name) => contact.attributes.get(name).cloned(),
        Field::Locale => contact.locale.clone().map(AttributeValue::Text),
        Field::Timezone => contact
            .timezone
            .map(|t| AttributeValue::Text(t.name().to_string())),
        Field::Region => contact
            .phone
            .as_ref()
            .and_then(|p| p.region())
            .map(AttributeValue::Text),
    }
}

fn compare(value: &AttributeValue, literal: &Literal) -> Option<std::cmp::Ordering> {
    match (value, literal) {
        (AttributeValue::Number(a), Literal::Number(b)) => a.partial_cmp(b),
        (AttributeValue::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (AttributeValue::Date(a), Literal::Date(b)) => Some(a.cmp(b)),
        (AttributeValue::Text(a), Literal::Text(b)) => Some(a.as_str().cmp(b.as_str())),
        (AttributeValue::Text(a), Literal::Number(b)) => a.parse::<f64>().ok()?.partial_cmp(b),
        (AttributeValue::Date(a), Literal::Text(b)) => {
            Some(a.cmp(&NaiveDate::parse_from_str(b, "%Y-%m-%d").ok()?))
        }
        _ => None,
    }
}

impl Cmp {
    fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => o == Equal,
            Cmp::Ne => o != Equal,
            Cmp::Lt => o == Less,
            Cmp::Le => o != Greater,
            Cmp::Gt => o == Greater,
            Cmp::Ge => o != Less,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum TokKind {
    Word,
    Str,
    Num,
    Op,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokKind,
    text: String,
    column: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, SegmentError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = |kind: TokKind| Token {
            kind,
            text: c.to_string(),
            column,
        };
        match c {
            '(' => out.push(single(TokKind::LParen)),
            ')' => out.push(single(TokKind::RParen)),
            '[' => out.push(single(TokKind::LBracket)),
            ']' => out.push(single(TokKind::RBracket)),
            ',' => out.push(single(TokKind::Comma)),
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(SegmentError {
                                column,
                                message: "unterminated string".into(),
                            });
                        }
                        Some('\\') if chars.get(i + 1) == Some(&quote) => {
                            s.push(quote);
                            i += 2;
                        }
                        Some(ch) if *ch == quote => break,
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    kind: TokKind::Str,
                    text: s,
                    column,
                });
            }
            '=' | '!' | '<' | '>' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if ["!=", "<=", ">=", "=="].contains(&two.as_str()) {
                    two
                } else {
                    c.to_string()
                };
                if op == "!" {
                    return Err(SegmentError {
                        column,
                        message: "`!` alone is not an operator: use `not` or `!=`".into(),
                    });
                }
                i += op.len() - 1;
                out.push(Token {
                    kind: TokKind::Op,
                    text: if op == "==" { "=".into() } else { op },
                    column,
                });
            }
            _ if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | '-' | '_' | ':'))
                {
                    i += 1;
                }
                out.push(Token {
                    kind: TokKind::Num,
                    text: chars[start..i].iter().collect(),
                    column,
                });
                continue;
            }
            _ if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | '/'))
                {
                    i += 1;
                }
                out.push(Token {
                    kind: TokKind::Word,
                    text: chars[start..i].iter().collect(),
                    column,
                });
                continue;
            }
            other => {
                return Err(SegmentError {
                    column,
                    message: format!("unexpected character `{other}`"),
                });
            }
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn end_error(&self, expected: &str) -> SegmentError {
        SegmentError {
            column: self.len + 1,
            message: format!("the filter ends where {expected} was expected"),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        self.peek()
            .is_some_and(|t| t.kind == TokKind::Word && t.text.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Expr, SegmentError> {
        let mut any = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 {
            any.pop().expect("one")
        } else {
            Expr::Or { any }
        })
    }

    fn and(&mut self) -> Result<Expr, SegmentError> {
        let mut all = vec![self.unary()?];
        while self.keyword("and") {
            self.pos += 1;
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one")
        } else {
            Expr::And { all }
        })
    }

    fn unary(&mut self) -> Result<Expr, SegmentError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not {
                expr: Box::new(self.unary()?),
            });
        }
        let tok = self.next().ok_or_else(|| self.end_error("a condition"))?;
        match tok.kind {
            TokKind::LParen => {
                let inner = self.or()?;
                match self.next() {
                    Some(t) if t.kind == TokKind::RParen => Ok(inner),
                    Some(t) => Err(SegmentError {
                        column: t.column,
                        message: format!("expected `)`, found `{}`", t.text),
                    }),
                    None => Err(self.end_error("`)`")),
                }
            }
            TokKind::Word => self.predicate(tok),
            _ => Err(SegmentError {
                column: tok.column,
                message: format!(
                    "expected a field such as `attr.balance` or `tag`, found `{}`",
                    tok.text
                ),
            }),
        }
    }

    fn predicate(&mut self, word: Token) -> Result<Expr, SegmentError> {
        let name = word.text.as_str();
        if let Some(tag) = name.strip_prefix("tag.") {
            check_ident(tag, word.column + 4)?;
            return Ok(Expr::HasTag {
                tag: tag.to_string(),
            });
        }
        if name == "tag" || name == "tags" {
            let op = self
                .next()
                .ok_or_else(|| self.end_error("`=` or `!=` after `tag`"))?;
            let value = self.next().ok_or_else(|| self.end_error("a tag name"))?;
            if !matches!(value.kind, TokKind::Word | TokKind::Str) {
                return Err(SegmentError {
                    column: value.column,
                    message: format!("`{}` is not a tag name", value.text),
                });
            }
            check_ident(&value.text, value.column)?;
            let has = Expr::HasTag { tag: value.text };
            return match (op.kind, op.text.as_str()) {
                (TokKind::Op, "=") => Ok(has),
                (TokKind::Op, "!=") => Ok(Expr::Not {
                    expr: Box::new(has),
                }),
                _ => Err(SegmentError {
                    column: op.column,
                    message: "tags compare with `=` or `!=` only".into(),
                }),
            };
        }
        let field = match name {
            "locale" => Field::Locale,
            "timezone" => Field::Timezone,
            "region" => Field::Region,
            _ => match name.strip_prefix("attr.") {
                Some(a) if !a.is_empty() => {
                    check_ident(a, word.column + 5)?;
                    Field::Attr(a.to_string())
                }
                _ => {
                    let hint = match name.split_once('.') {
                        Some((prefix, rest)) => {
                            super::suggest(prefix, ["attr", "tag"]).map(|p| format!("{p}.{rest}"))
                        }
                        None => super::suggest(name, ["tag", "locale", "timezone", "region"])
                            .map(str::to_string),
                    }
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                    return Err(SegmentError {
                        column: word.column,
                        message: format!(
                            "unknown field `{name}`: expected `attr.NAME`, `tag`, `tag.NAME`, `locale`, `timezone` or `region`{hint}"
                        ),
                    });
                }
            },
        };
        let op = self
            .next()
            .ok_or_else(|| self.end_error("an operator (=, !=, <, <=, >, >=, in, exists)"))?;
        if op.kind == TokKind::Word && op.text.eq_ignore_ascii_case("exists") {
            return Ok(Expr::Exists { field });
        }
        if op.kind == TokKind::Word && op.text.eq_ignore_ascii_case("in") {
            return self.list(field);
        }
        let cmp = match (op.kind, op.text.as_str()) {
            (TokKind::Op, "=") => Cmp::Eq,
            (TokKind::Op, "!=") => Cmp::Ne,
            (TokKind::Op, "<") => Cmp::Lt,
            (TokKind::Op, "<=") => Cmp::Le,
            (TokKind::Op, ">") => Cmp::Gt,
            (TokKind::Op, ">=") => Cmp::Ge,
            _ => {
                return Err(SegmentError {
                    column: op.column,
                    message: format!(
                        "expected an operator (=, !=, <, <=, >, >=, in, exists), found `{}`",
                        op.text
                    ),
                });
            }
        };
        let value = self.literal()?;
        Ok(Expr::Compare { field, cmp, value })
    }

    fn list(&mut self, field: Field) -> Result<Expr, SegmentError> {
        match self.next() {
            Some(t) if t.kind == TokKind::LBracket => {}
            Some(t) => {
                return Err(SegmentError {
                    column: t.column,
                    message: format!("expected `[` after `in`, found `{}`", t.text),
                });
            }
            None => return Err(self.end_error("`[`")),
        }
        let mut values = Vec::new();
        loop {
            values.push(self.literal()?);
            match self.next() {
                Some(t) if t.kind == TokKind::Comma => continue,
                Some(t) if t.kind == TokKind::RBracket => break,
                Some(t) => {
                    return Err(SegmentError {
                        column: t.column,
                        message: format!("expected `,` or `]`, found `{}`", t.text),
                    });
                }
                None => return Err(self.end_error("`]`")),
            }
        }
        Ok(Expr::In { field, values })
    }

    fn literal(&mut self) -> Result<Literal, SegmentError> {
        let tok = self.next().ok_or_else(|| self.end_error("a value"))?;
        match tok.kind {
            TokKind::Str => Ok(Literal::Text(tok.text)),
            TokKind::Num => {
                if let Ok(d) = NaiveDate::parse_from_str(&tok.text, "%Y-%m-%d") {
                    return Ok(Literal::Date(d));
                }
                tok.text
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(Literal::Number)
                    .ok_or_else(|| SegmentError {
                        column: tok.column,
                        message: format!(
                            "`{}` is neither a number nor a date (YYYY-MM-DD)",
                            tok.text
                        ),
                    })
            }
            TokKind::Word => Ok(match tok.text.as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                _ => Literal::Text(tok.text),
            }),
            _ => Err(SegmentError {
                column: tok.column,
                message: format!("expected a value, found `{}`", tok.text),
            }),
        }
    }
}

fn check_ident(name: &str, column: usize) -> Result<(), SegmentError> {
    if super::is_name(name) {
        Ok(())
    } else {
        Err(SegmentError {
            column,
            message: format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Consents, Tag};
    use std::collections::BTreeMap;

    fn contact(attrs: &[(&str, AttributeValue)], tags: &[&str]) -> Contact {
        Contact {
            id: 1,
            external_id: "c1".into(),
            first_name: None,
            last_name: None,
            phone: None,
            email: None,
            locale: Some("es".into()),
            timezone: None,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            consent: Consents::default(),
            tags: tags
                .iter()
                .map(|t| Tag {
                    name: t.to_string(),
                    source: "test".into(),
                    expires_at: None,
                })
                .collect(),
        }
    }

    #[test]
    fn filters_combine_attributes_and_tags() {
        let seg = Segment::parse("attr.balance >= 100 and not tag = promise_to_pay").unwrap();
        let now = Utc::now();
        assert!(seg.matches(
            &contact(&[("balance", AttributeValue::Number(150.0))], &[]),
            now
        ));
        assert!(!seg.matches(
            &contact(
                &[("balance", AttributeValue::Number(150.0))],
                &["promise_to_pay"]
            ),
            now
        ));
        assert!(!seg.matches(
            &contact(&[("balance", AttributeValue::Number(50.0))], &[]),
            now
        ));
        assert!(
            !seg.matches(&contact(&[], &[]), now),
            "a missing attribute never matches"
        );
        assert_eq!(
            seg.tags().into_iter().collect::<Vec<_>>(),
            vec!["promise_to_pay"]
        );
    }

    #[test]
    fn lists_dates_and_locale_compare_by_type() {
        let now = Utc::now();
        let seg = Segment::parse("(locale = \"es\" or locale = en) and attr.plan in [gold, 'silver'] and attr.due < 2026-12-01").unwrap();
        let c = contact(
            &[
                ("plan", AttributeValue::Text("gold".into())),
                (
                    "due",
                    AttributeValue::Date(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()),
                ),
            ],
            &[],
        );
        assert!(seg.matches(&c, now));
    }

    #[test]
    fn expired_tags_do_not_match() {
        let mut c = contact(&[], &["vip"]);
        c.tags[0].expires_at = Some(Utc::now() - chrono::Duration::hours(1));
        assert!(!Segment::parse("tag.vip").unwrap().matches(&c, Utc::now()));
    }

    #[test]
    fn errors_name_the_column_and_suggest_a_field() {
        let err = Segment::parse("atr.balance > 3").unwrap_err();
        assert_eq!(err.column, 1);
        assert!(
            err.message.contains("did you mean `attr.balance`"),
            "{}",
            err.message
        );
        let err = Segment::parse("attr.balance > ").unwrap_err();
        assert!(err.message.contains("ends"), "{}", err.message);
        let err = Segment::parse("tag = a b").unwrap_err();
        assert_eq!(err.column, 9);
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_fails_with_a_column_inside_it(text in "\\PC{0,60}") {
            match Segment::parse(&text) {
                Ok(seg) => { let _ = seg.matches(&contact(&[], &[]), Utc::now()); }
                Err(e) => proptest::prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{:?}", e),
            }
        }

        #[test]
        fn filters_built_from_parts_always_parse(
            attr in "[a-z_]{1,8}",
            op in proptest::sample::select(vec!["=", "!=", "<", "<=", ">", ">="]),
            n in -1000i64..1000,
            tag in "[a-z]{1,6}",
            join in proptest::sample::select(vec!["and", "or"]),
        ) {
            let text = format!("attr.{attr} {op} {n} {join} not tag = {tag}");
            let seg = Segment::parse(&text);
            proptest::prop_assert!(seg.is_ok(), "{} → {:?}", text, seg);
            proptest::prop_assert_eq!(seg.unwrap().tags().into_iter().collect::<Vec<_>>(), vec![tag]);
        }
    }
}
