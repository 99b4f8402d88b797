//! The contract of the exported tables: which tables there are, their typed columns (in
//! [`tables`]), the values a row holds ([`Cell`]) and which rows an export selects
//! ([`Filter`]).
//!
//! It sits in the domain, below both the store, which reads the rows, and `export/`,
//! which writes them as files: each names these types without naming the other. A
//! table's columns, their names, types and order are a promise to analysts, documented in
//! `docs/exports.md`; a test here holds the page to these lists.

use chrono::{DateTime, Utc};

pub mod tables;

/// The tables `herald export` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// One row per attempt (the ledger).
    Attempts,
    /// One row per event of an attempt.
    Events,
    /// One row per current survey answer.
    Responses,
    /// One row per contact.
    Contacts,
    /// One row per tag on a contact.
    Tags,
}

impl Table {
    /// The table's name, as `herald export` takes it and `docs/exports.md` heads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Attempts => "attempts",
            Table::Events => "events",
            Table::Responses => "responses",
            Table::Contacts => "contacts",
            Table::Tags => "tags",
        }
    }

    /// What one row of the table is, for the command's help.
    pub fn rows(self) -> &'static str {
        match self {
            Table::Attempts => "One row per attempt (the ledger)",
            Table::Events => "One row per event of an attempt",
            Table::Responses => "One row per current survey answer",
            Table::Contacts => "One row per contact",
            Table::Tags => "One row per tag on a contact",
        }
    }

    /// The table's columns, in file order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Attempts => tables::ATTEMPTS,
            Table::Events => tables::EVENTS,
            Table::Responses => tables::RESPONSES,
            Table::Contacts => tables::CONTACTS,
            Table::Tags => tables::TAGS,
        }
    }

    /// Every table, in the order the help and the documentation list them.
    pub const ALL: [Table; 5] = [
        Table::Attempts,
        Table::Events,
        Table::Responses,
        Table::Contacts,
        Table::Tags,
    ];
}

/// A column's type, the same in every format (see `docs/exports.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Int64,
    Int32,
    Bool,
    /// UTF-8 text; some columns hold JSON text (said in their meaning).
    Text,
    /// A UTC moment: RFC 3339 text in CSV and JSON Lines, `TIMESTAMP(MICROS, UTC)` in Parquet.
    Time,
}

impl ColumnType {
    /// The name `docs/exports.md` uses.
    pub fn doc_name(self) -> &'static str {
        match self {
            ColumnType::Int64 => "int64",
            ColumnType::Int32 => "int32",
            ColumnType::Bool => "bool",
            ColumnType::Text => "text",
            ColumnType::Time => "timestamp",
        }
    }
}

/// Contact details a column holds, hidden by `--mask-pii`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pii {
    Phone,
    Email,
    Name,
}

/// One exported column.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    pub pii: Option<Pii>,
    /// One line for the documentation.
    pub meaning: &'static str,
}

/// One value of a row, typed as its column.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    /// Int64 and Int32 columns (the Parquet sink checks the Int32 range).
    Int(i64),
    Bool(bool),
    Text(String),
    Time(DateTime<Utc>),
}

/// The rows an export selects. Times are half-open: `since <= t < until` on the table's
/// own time column.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub campaign: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// The moment that decides which tags are in force (the contacts' `tags` column).
    pub now: DateTime<Utc>,
}

/// Why whoever takes the rows (a file writer, a test) could not take one; the store stops
/// reading there and hands this back. It keeps the writer's own error, so its message and
/// its causes print as they would have without the store in between.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SinkError(Box<dyn std::error::Error + Send + Sync>);

impl SinkError {
    /// Wraps the error a row's taker met.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SinkError {
        SinkError(error.into())
    }

    /// The error the taker met, to look at its kind (`downcast_ref`).
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentation_lists_every_column_with_its_type() {
        let doc = include_str!("../../../docs/exports.md");
        for table in Table::ALL {
            let heading = format!("## {}", table.as_str());
            let start = doc
                .find(&heading)
                .unwrap_or_else(|| panic!("docs/exports.md has no `{heading}` section"));
            let section = &doc[start..];
            let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
            for c in table.columns() {
                let null = if c.nullable { "yes" } else { "no" };
                let row = format!("| `{}` | {} | {} |", c.name, c.ty.doc_name(), null);
                assert!(
                    section.contains(&row),
                    "docs/exports.md, {}: no row starting `{row}`",
                    table.as_str()
                );
            }
        }
    }

    #[test]
    fn a_sink_error_keeps_the_message_and_the_cause_of_the_writer() {
        let io = std::io::Error::other("disk full");
        let error = SinkError::new(io);
        assert_eq!(error.to_string(), "disk full");
        assert!(error.inner().downcast_ref::<std::io::Error>().is_some());
    }
}
