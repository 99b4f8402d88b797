//! JSON Lines: one object per row, keys in column order, every column present.
//!
//! Nulls are `null`, integers numbers, booleans `true`/`false`, times RFC 3339 UTC
//! strings. Columns of JSON text stay strings, so a column has one type in every format.

use std::io::{BufWriter, Write};

use super::{Cell, Column, ExportError, Sink, format_time};

pub struct JsonLinesSink<W: Write> {
    out: BufWriter<W>,
    /// `{"name":`, then `,"name":` for each column: escaped once, not per row.
    keys: Vec<String>,
}

impl<W: Write> JsonLinesSink<W> {
    pub fn new(columns: &[Column], out: W) -> JsonLinesSink<W> {
        let keys = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let name = serde_json::to_string(c.name).expect("a name serialises");
                format!("{}{name}:", if i == 0 { "{" } else { "," })
            })
            .collect();
        JsonLinesSink {
            out: BufWriter::with_capacity(1 << 16, out),
            keys,
        }
    }

    fn write(&mut self, row: &[Cell]) -> std::io::Result<()> {
        for (key, cell) in self.keys.iter().zip(row) {
            self.out.write_all(key.as_bytes())?;
            match cell {
                Cell::Null => self.out.write_all(b"null")?,
                Cell::Int(n) => write!(self.out, "{n}")?,
                Cell::Bool(b) => self.out.write_all(if *b { b"true" } else { b"false" })?,
                Cell::Text(t) => serde_json::to_writer(&mut self.out, t)?,
                Cell::Time(t) => write!(self.out, "\"{}\"", format_time(t))?,
            }
        }
        self.out.write_all(b"}\n")
    }
}

impl<W: Write + Send> Sink for JsonLinesSink<W> {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), ExportError> {
        self.write(row).map_err(|source| ExportError::Io {
            doing: "writing a JSON line",
            source,
        })
    }

    fn finish(self: Box<Self>) -> Result<(), ExportError> {
        let mut out = self.out;
        out.flush().map_err(|source| ExportError::Io {
            doing: "flushing the JSON Lines output",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn each_row_is_one_object_with_typed_values() {
        let columns = &super::super::tables::TAGS;
        let mut sink = JsonLinesSink::new(columns, Vec::new());
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap();
        sink.write(&[
            Cell::Int(3),
            Cell::Text("C3".into()),
            Cell::Text("say \"hi\"\n".into()),
            Cell::Text("import".into()),
            Cell::Time(at),
            Cell::Null,
        ])
        .unwrap();
        let out = String::from_utf8(sink.out.into_inner().unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"contact_id\":3,\"external_id\":\"C3\",\"tag\":\"say \\\"hi\\\"\\n\",\"source\":\"import\",\"created_at\":\"2026-11-30T08:00:00Z\",\"expires_at\":null}\n"
        );
        let back: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(back["tag"], "say \"hi\"\n");
    }
}
