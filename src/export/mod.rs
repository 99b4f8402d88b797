//! Read-outs for analysts: the ledger's tables as CSV, JSON Lines or Parquet, streamed
//! (this module), and campaign reports as text, JSON and a self-contained HTML page
//! ([`report`], [`html`]).
//!
//! Each exported table has a fixed list of typed columns ([`Column`], in [`tables`]):
//! their names, types and order are a contract with analysts, documented in
//! `docs/exports.md` (a test checks the page against the specs, another checks each
//! table's SQL against them). The store streams rows as [`Cell`]s in that order; a
//! [`Sink`] writes them as they arrive, so memory stays flat whatever the row count:
//! CSV and JSON Lines write a line per row, Parquet buffers at most one row group
//! ([`ROW_GROUP_ROWS`] rows).
//!
//! What goes into a file is decided here, not in the sinks: [`Masking`] hides contact
//! details before any sink sees them; CSV alone neutralises cells a spreadsheet would
//! run as formulas.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};

use crate::domain::values::{mask_email, mask_name, mask_phone};

mod csv_file;
pub mod html;
mod json_lines;
mod parquet_file;
pub mod report;
pub mod tables;

pub use csv_file::{CsvSink, neutralise};
pub use json_lines::JsonLinesSink;
pub use parquet_file::ParquetSink;

/// Rows per Parquet row group (and per Arrow record batch): large enough for good
/// compression and fast scans, small enough that a writer holds a few MB at most.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The tables `herald export` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Attempts => "attempts",
            Table::Events => "events",
            Table::Responses => "responses",
            Table::Contacts => "contacts",
            Table::Tags => "tags",
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

    pub const ALL: [Table; 5] = [
        Table::Attempts,
        Table::Events,
        Table::Responses,
        Table::Contacts,
        Table::Tags,
    ];
}

/// File formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated, a header line, RFC 4180 quoting.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet, Snappy-compressed (needs `-o FILE`).
    Parquet,
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

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{doing}: {source}")]
    Io {
        doing: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("writing CSV: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("building a Parquet row group: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("column `{column}` holds {value}, outside the range of its type {ty}")]
    OutOfRange {
        column: &'static str,
        value: i64,
        ty: &'static str,
    },
}

/// Where rows go: one call per row, cells in column order, then `finish` once.
pub trait Sink: Send {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), ExportError>;

    /// Writes what is buffered and the format's trailer (Parquet's footer), then flushes.
    fn finish(self: Box<Self>) -> Result<(), ExportError>;
}

/// Opens the sink of a format over `out`, writing the header (CSV) at once.
pub fn sink<W: Write + Send + 'static>(
    format: Format,
    columns: &'static [Column],
    out: W,
) -> Result<Box<dyn Sink>, ExportError> {
    Ok(match format {
        Format::Csv => Box::new(CsvSink::new(columns, out)?),
        Format::Jsonl => Box::new(JsonLinesSink::new(columns, out)),
        Format::Parquet => Box::new(ParquetSink::new(columns, out)?),
    })
}

/// Whether contact details are hidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Masking {
    Off,
    /// Phone numbers, e-mail addresses and names through the same masks as the logs.
    Pii,
}

impl Masking {
    /// Masks the cells of `row` whose column holds contact details.
    pub fn apply(self, columns: &[Column], row: &mut [Cell]) {
        if self == Masking::Off {
            return;
        }
        for (column, cell) in columns.iter().zip(row.iter_mut()) {
            if let (Some(pii), Cell::Text(text)) = (column.pii, &*cell) {
                let masked = match pii {
                    Pii::Phone => mask_phone(text),
                    Pii::Email => mask_email(text),
                    Pii::Name => mask_name(text),
                };
                *cell = Cell::Text(masked);
            }
        }
    }
}

/// A moment as the text formats write it: RFC 3339 in UTC with `Z`, to the microsecond
/// as in Parquet, fractional digits only when there are some (`2026-11-30T08:00:00Z`,
/// `2026-11-30T08:00:00.250Z`, `2026-11-30T08:00:00.587814Z`).
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.trunc_subsecs(6)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }

    #[test]
    fn masking_hides_contact_details_and_leaves_the_rest() {
        let mut row = vec![
            Cell::Int(7),
            text("C7"),
            text("Jane"),
            text("Doe"),
            text("+447400123456"),
            text("jane@example.com"),
        ];
        let columns = &tables::CONTACTS[..6];
        Masking::Pii.apply(columns, &mut row);
        assert_eq!(
            row,
            vec![
                Cell::Int(7),
                text("C7"),
                text("J***"),
                text("D***"),
                text("+44********56"),
                text("j***@example.com"),
            ]
        );
        let mut plain = vec![text("+447400123456")];
        Masking::Off.apply(&tables::CONTACTS[4..5], &mut plain);
        assert_eq!(plain, vec![text("+447400123456")]);
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T09:00:00+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_time(&t), "2026-11-30T08:00:00Z");
        let precise = DateTime::parse_from_rfc3339("2026-11-30T08:00:00.587814049Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_time(&precise), "2026-11-30T08:00:00.587814Z");
    }

    #[test]
    fn the_documentation_lists_every_column_with_its_type() {
        let doc = include_str!("../../docs/exports.md");
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
}
