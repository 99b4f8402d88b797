//! Problems in files people write (campaign definitions, templates, `herald.toml`), each
//! with file, line, column, key path, what was found, what was expected and a hint.
//!
//! [`parse_strict`] reads a TOML file into a strict serde type and reports every
//! structural problem at once: after each serde error it removes the offending key and
//! tries again, so one typo does not hide the next. [`SourceMap`] maps key paths such as
//! `steps[1].after` back to lines for the checks that run after parsing.

use std::fmt;
use std::ops::Range;

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Key path within the file (`steps[1].channel`); empty for the whole file.
    pub key: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.into(),
            line: 1,
            column: 1,
            key: String::new(),
            message: message.into(),
            found: None,
            expected: None,
            hint: None,
        }
    }

    pub fn warning(file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, message)
        }
    }

    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    pub fn found(mut self, found: impl Into<String>) -> Self {
        self.found = Some(found.into());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        let h = hint.into();
        if !h.is_empty() {
            self.hint = Some(h);
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{level}: {}", self.message)?;
        write!(f, "  --> {}:{}:{}", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "  {}", self.key)?;
        }
        if let Some(found) = &self.found {
            write!(f, "\n   found: {found}")?;
        }
        if let Some(expected) = &self.expected {
            write!(f, "\n   expected: {expected}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n   hint: {hint}")?;
        }
        Ok(())
    }
}

/// Key paths of a TOML document and where they are written.
#[derive(Debug, Default)]
pub struct SourceMap {
    text: String,
    /// (path, span of the key, span of the value)
    entries: Vec<(String, Range<usize>, Range<usize>)>,
}

impl SourceMap {
    fn build(text: &str, table: &DeTable<'_>) -> SourceMap {
        let mut map = SourceMap {
            text: text.to_string(),
            entries: Vec::new(),
        };
        map.walk_table("", table);
        map
    }

    fn walk_table(&mut self, prefix: &str, table: &DeTable<'_>) {
        for (k, v) in table.iter() {
            let path = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            self.entries.push((path.clone(), k.span(), v.span()));
            self.walk_value(&path, v.get_ref());
        }
    }

    fn walk_value(&mut self, path: &str, value: &DeValue<'_>) {
        match value {
            DeValue::Table(t) => self.walk_table(path, t),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.entries.push((p.clone(), item.span(), item.span()));
                    self.walk_value(&p, item.get_ref());
                }
            }
            _ => {}
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// Where a key path is written: the key itself, or its closest written parent.
    pub fn locate(&self, path: &str) -> (usize, usize) {
        let mut p = path.to_string();
        loop {
            if let Some((_, key, _)) = self.entries.iter().find(|(q, _, _)| *q == p) {
                return self.line_col(key.start);
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return (1, 1),
            }
        }
    }

    /// The path of the table written at exactly `span` ("" for the document itself).
    fn table_with_span(&self, span: &Range<usize>) -> &str {
        self.entries
            .iter()
            .filter(|(_, _, v)| v == span)
            .max_by_key(|(p, _, _)| p.matches(['.', '[']).count())
            .map_or("", |(p, _, _)| p.as_str())
    }

    /// Where the key of `path` starts.
    fn key_start(&self, path: &str) -> Option<usize> {
        self.entries
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, k, _)| k.start)
    }

    /// The deepest key path whose key or value covers a byte offset.
    fn path_at(&self, offset: usize) -> Option<&str> {
        self.entries
            .iter()
            .filter(|(_, k, v)| {
                k.contains(&offset) || v.contains(&offset) || (k.start == offset && k.is_empty())
            })
            .max_by_key(|(p, _, _)| p.matches(['.', '[']).count())
            .map(|(p, _, _)| p.as_str())
    }
}

/// Parses `text` (the contents of `file`) into `T`, reporting every problem at once.
pub fn parse_strict<T: DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<(T, SourceMap), Vec<Diagnostic>> {
    let root = match DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => {
            let (_, errors) = DeTable::parse_recoverable(text);
            let errors = if errors.is_empty() { vec![e] } else { errors };
            let map = SourceMap {
                text: text.to_string(),
                entries: Vec::new(),
            };
            return Err(errors
                .iter()
                .map(|e| {
                    let (line, column) = map.line_col(e.span().map_or(0, |s| s.start));
                    Diagnostic::error(file, format!("TOML syntax: {}", e.message().trim()))
                        .at(line, column)
                })
                .collect());
        }
    };
    let map = SourceMap::build(text, root.get_ref());
    let span = root.span();
    let mut table = root.into_inner();
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let mut renamed: Vec<(String, String)> = Vec::new();
    for _ in 0..64 {
        let attempt = toml::de::Deserializer::from(toml::Spanned::new(span.clone(), table.clone()));
        match T::deserialize(attempt) {
            Ok(value) if problems.is_empty() => return Ok((value, map)),
            Ok(_) => return Err(problems),
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start);
                let message = e.message().trim().to_string();
                let mut path = map.path_at(offset).unwrap_or("").to_string();
                let mut at = offset;
                // serde points a missing key at the table that lacks it: name the key.
                if let Some(field) = missing_field(&message)
                    && let Some(span) = e.span()
                {
                    let table = map.table_with_span(&span);
                    path = if table.is_empty() {
                        field.to_string()
                    } else {
                        format!("{table}.{field}")
                    };
                    at = map.key_start(table).unwrap_or(0);
                }
                // A key we removed to look past an earlier problem is now "missing": the
                // earlier problem already says what is wrong with it.
                if let Some(field) = missing_field(&message)
                    && removed.iter().any(|r| r.rsplit('.').next() == Some(field))
                {
                    return Err(problems);
                }
                let (line, column) = map.line_col(at);
                let is_missing = missing_field(&message).is_some();
                let (message, hint, expected) = explain_serde(&message);
                let mut d = Diagnostic::error(file, message)
                    .at(line, column)
                    .key(&path)
                    .hint(hint.unwrap_or_default());
                if let Some(x) = expected {
                    d = d.expected(x);
                }
                // Look past the problem: a likely typo is corrected to its suggestion (so
                // the rest of the file is still checked), anything else is removed.
                let repair = match (&d.hint, d.message.starts_with("unknown key")) {
                    (Some(h), true) => Edit::Rename(quoted(h)),
                    (Some(h), false) if d.message.starts_with("unknown value") => {
                        Edit::Replace(quoted(h))
                    }
                    _ => Edit::Remove,
                };
                problems.push(d);
                // Keys renamed earlier are found under their new names.
                let mut current = path.clone();
                for (old, new) in &renamed {
                    if current == *old
                        || current.starts_with(&format!("{old}."))
                        || current.starts_with(&format!("{old}["))
                    {
                        current = format!("{new}{}", &current[old.len()..]);
                    }
                }
                if current.is_empty() || is_missing {
                    return Err(problems);
                }
                if edit_path(&mut table, &current, &repair) {
                    if let Edit::Rename(to) = &repair {
                        let parent = current
                            .rsplit_once('.')
                            .map(|(p, _)| format!("{p}."))
                            .unwrap_or_default();
                        renamed.push((current.clone(), format!("{parent}{to}")));
                    }
                } else if !edit_path(&mut table, &current, &Edit::Remove) {
                    return Err(problems);
                }
                removed.push(current);
            }
        }
    }
    Err(problems)
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Rewrites serde's message for people: a suggestion for unknown names, plain words for
/// untagged enums.
fn explain_serde(message: &str) -> (String, Option<String>, Option<String>) {
    let first_line = message.lines().next().unwrap_or(message).to_string();
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = first_line.strip_prefix(prefix) {
            let found = rest.split('`').next().unwrap_or("");
            let candidates: Vec<&str> = match rest.split_once("expected") {
                Some((_, list)) => list.split('`').skip(1).step_by(2).collect(),
                None => Vec::new(),
            };
            let hint = crate::domain::suggest(found, candidates.iter().copied())
                .map(|s| format!("did you mean `{s}`?"));
            let what = if prefix.contains("field") {
                "unknown key"
            } else {
                "unknown value"
            };
            let expected =
                (!candidates.is_empty()).then(|| format!("one of {}", candidates.join(", ")));
            return (format!("{what} `{found}`"), hint, expected);
        }
    }
    if first_line.contains("untagged enum OneOrMany") {
        return ("expected a string or a list of strings".into(), None, None);
    }
    (first_line, None, None)
}

/// The name inside the backticks of a hint such as "did you mean `channel`?".
fn quoted(hint: &str) -> String {
    hint.split('`').nth(1).unwrap_or("").to_string()
}

/// How [`parse_strict`] looks past a problem.
enum Edit {
    Remove,
    /// Rename the key (a typo in a key name) unless the intended key is already there.
    Rename(String),
    /// Replace a string value (a typo in a value).
    Replace(String),
}

/// Applies `edit` to the entry at `path` (`a.b[2].c`); false when it cannot.
fn edit_path(table: &mut DeTable<'_>, path: &str, edit: &Edit) -> bool {
    let mut segments: Vec<(String, Option<usize>)> = Vec::new();
    for part in path.split('.') {
        let (name, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        segments.push((name.to_string(), None));
        for i in indices
            .split(['[', ']'])
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
        {
            segments.push((String::new(), Some(i)));
        }
    }
    if segments.last().is_some_and(|(_, i)| i.is_some()) {
        if !matches!(edit, Edit::Remove) {
            return false;
        }
        // Never remove a whole array element: drop the key that holds the array instead.
        while segments.last().is_some_and(|(_, i)| i.is_some()) {
            segments.pop();
        }
    }
    edit_in_table(table, &segments, edit)
}

fn edit_in_table(
    table: &mut DeTable<'_>,
    segments: &[(String, Option<usize>)],
    edit: &Edit,
) -> bool {
    let Some(((name, _), rest)) = segments.split_first() else {
        return false;
    };
    if !rest.is_empty() {
        return match table.get_mut(name.as_str()) {
            Some(v) => edit_in_value(v.get_mut(), rest, edit),
            None => false,
        };
    }
    match edit {
        Edit::Remove => table.remove(name.as_str()).is_some(),
        Edit::Rename(to) => {
            if to.is_empty() || table.contains_key(to.as_str()) {
                return false;
            }
            let Some((key, value)) = table.remove_entry(name.as_str()) else {
                return false;
            };
            table.insert(
                toml::Spanned::new(key.span(), std::borrow::Cow::Owned(to.clone())),
                value,
            );
            true
        }
        Edit::Replace(to) => match table.get_mut(name.as_str()) {
            Some(v) if !to.is_empty() && matches!(v.get_ref(), DeValue::String(_)) => {
                *v.get_mut() = DeValue::String(std::borrow::Cow::Owned(to.clone()));
                true
            }
            _ => false,
        },
    }
}

fn edit_in_value(
    value: &mut DeValue<'_>,
    segments: &[(String, Option<usize>)],
    edit: &Edit,
) -> bool {
    match (value, segments.first()) {
        (DeValue::Array(items), Some((_, Some(i)))) => match items.get_mut(*i) {
            Some(item) => edit_in_value(item.get_mut(), &segments[1..], edit),
            None => false,
        },
        (DeValue::Table(t), Some((_, None))) => edit_in_table(t, segments, edit),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        size: Option<u32>,
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_line_and_a_suggestion() {
        let text = "name = \"x\"\n\n[[items]]\nid = \"a\"\nsise = 3\n\n[[items]]\nid = \"b\"\ncolour = \"red\"\n";
        let errors = parse_strict::<Doc>("f.toml", text).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert_eq!(
            (errors[0].line, errors[0].key.as_str()),
            (5, "items[0].sise")
        );
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `size`?"));
        assert_eq!(
            (errors[1].line, errors[1].key.as_str()),
            (9, "items[1].colour")
        );
    }

    #[test]
    fn a_typo_in_a_key_does_not_hide_the_next_problem() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Step {
            channel: Channel,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "snake_case")]
        enum Channel {
            Sms,
            VoiceBot,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            steps: Vec<Step>,
        }
        let text = "[[steps]]\nchanel = \"sms\"\n\n[[steps]]\nchannel = \"voicebot\"\n";
        let errors = parse_strict::<Doc>("f.toml", text).unwrap_err();
        let keys: Vec<(&str, usize)> = errors.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(
            keys,
            vec![("steps[0].chanel", 2), ("steps[1].channel", 5)],
            "{errors:#?}"
        );
        assert_eq!(errors[1].hint.as_deref(), Some("did you mean `voice_bot`?"));
    }

    #[test]
    fn a_typo_in_both_key_and_value_is_reported_twice_and_parsing_goes_on() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            channel: Kind,
            name: String,
            size: u32,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Sms,
        }
        let errors = parse_strict::<Doc>(
            "f.toml",
            "chanel = \"smss\"\nname = \"x\"\nsize = \"big\"\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["chanel", "chanel", "size"], "{errors:#?}");
        assert_eq!(errors[1].hint.as_deref(), Some("did you mean `sms`?"));
    }

    #[test]
    fn a_missing_key_is_named_with_its_table() {
        let errors = parse_strict::<Doc>("f.toml", "[[items]]\nsize = 1\n").unwrap_err();
        assert_eq!(errors[0].key, "items[0].id", "{errors:#?}");
        assert_eq!(errors[0].line, 1, "{errors:#?}");
    }

    #[test]
    fn a_wrong_type_is_reported_once_not_again_as_missing() {
        let errors = parse_strict::<Doc>("f.toml", "name = 3\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].key, "name");
        assert!(
            errors[0].message.contains("invalid type"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let errors = parse_strict::<Doc>("f.toml", "name = \"x\"\nitems = [\n").unwrap_err();
        assert!(errors[0].message.starts_with("TOML syntax"));
        assert!(errors[0].line >= 2, "{errors:#?}");
    }
}
