//! CSV: a header of the column names, then one record per row.
//!
//! Nulls are empty cells, times RFC 3339 UTC, booleans `true`/`false`. A text cell a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
//! carriage return) gets a leading `'`, unless the whole cell is a plain number such as
//! `-3` or `+447400123456`, which a spreadsheet reads as a number, not a formula.
//! Numeric columns are never touched.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use super::{Cell, Column, ExportError, Sink, format_time};

pub struct CsvSink<W: Write> {
    out: ::csv::Writer<W>,
    number: String,
}

impl<W: Write> CsvSink<W> {
    /// Writes the header line at once, so an empty export still names its columns.
    pub fn new(columns: &[Column], out: W) -> Result<CsvSink<W>, ExportError> {
        let mut out = ::csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(out);
        out.write_record(columns.iter().map(|c| c.name))?;
        Ok(CsvSink {
            out,
            number: String::new(),
        })
    }
}

impl<W: Write + Send> Sink for CsvSink<W> {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), ExportError> {
        for cell in row {
            match cell {
                Cell::Null => self.out.write_field("")?,
                Cell::Int(n) => {
                    self.number.clear();
                    let _ = write!(self.number, "{n}");
                    self.out.write_field(&self.number)?
                }
                Cell::Bool(b) => self.out.write_field(if *b { "true" } else { "false" })?,
                Cell::Text(t) => self.out.write_field(neutralise(t).as_bytes())?,
                Cell::Time(t) => self.out.write_field(format_time(t))?,
            }
        }
        // An empty record after `write_field` calls ends the record.
        self.out.write_record(None::<&[u8]>)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), ExportError> {
        let mut out = self.out;
        out.flush().map_err(|source| ExportError::Io {
            doing: "flushing the CSV output",
            source,
        })?;
        Ok(())
    }
}

/// The text of a cell, with a leading `'` when a spreadsheet would take it for a formula.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    let risky = matches!(
        text.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    if risky && !is_plain_number(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// `-3`, `+447400123456`, `-0.5`: a sign, digits, at most one decimal point.
fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let mut seen_digit = false;
    let mut seen_point = false;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_point => seen_point = true,
            _ => return false,
        }
    }
    seen_digit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_plain_numbers_kept() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(neutralise("-2+3"), "'-2+3");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("\rx"), "'\rx");
        assert_eq!(neutralise("+44********56"), "'+44********56");
        assert_eq!(neutralise("-3"), "-3");
        assert_eq!(neutralise("+447400123456"), "+447400123456");
        assert_eq!(neutralise("-0.5"), "-0.5");
        assert_eq!(neutralise("-"), "'-");
        assert_eq!(neutralise("Ana"), "Ana");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn numeric_cells_are_written_as_numbers_and_nulls_as_empty_cells() {
        let columns = &super::super::tables::TAGS[..3];
        let mut sink = Box::new(CsvSink::new(columns, Vec::new()).unwrap());
        sink.write_row(&[Cell::Int(-3), Cell::Null, Cell::Text("=1+1".into())])
            .unwrap();
        let out = String::from_utf8(sink.out.into_inner().unwrap()).unwrap();
        assert_eq!(out, "contact_id,external_id,tag\n-3,,'=1+1\n");
    }
}
