//! Read-outs for analysts: the ledger's tables as CSV, JSON Lines or Parquet, streamed
//! (this module), and campaign reports as text, JSON and a self-contained HTML page
//! ([`report`], [`html`]).
//!
//! Each exported table has a fixed list of typed columns ([`Column`], in [`tables`]):
//! their names, types and order are a contract with analysts, documented in
//! `docs/exports.md` (a test checks the page against the specs, another checks each
//! table's SQL against them). That contract lives in `domain::exported`, re-exported
//! here, so the store reads rows without depending on this module. The store streams
//! rows as [`Cell`]s in that order; a
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

/// The exported tables' contract lives in the domain, below the store that reads the rows.
pub use crate::domain::exported::{
    Cell, Column, ColumnType, Filter, Pii, SinkError, Table, tables,
};

mod csv_file;
pub mod html;
mod json_lines;
mod parquet_file;
pub mod report;

pub use csv_file::{CsvSink, neutralise};
pub use json_lines::JsonLinesSink;
pub use parquet_file::ParquetSink;

/// Rows per Parquet row group (and per Arrow record batch): large enough for good
/// compression and fast scans, small enough that a writer holds a few MB at most.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// `herald export TABLE` takes a table by its name; the help gives what a row is.
impl clap::ValueEnum for Table {
    fn value_variants<'a>() -> &'a [Self] {
        &Table::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()).help(self.rows()))
    }
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

/// A writer's failure as the store hands it back: the message and causes are kept.
impl From<ExportError> for SinkError {
    fn from(error: ExportError) -> SinkError {
        SinkError::new(error)
    }
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
}
