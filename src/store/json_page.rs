//! Export rows handed over by SQLite a page at a time, as one JSON array of rows.
//!
//! sqlx runs each SQLite connection on its own thread and sends every row it reads to the
//! task awaiting it through a channel, waking that task once per row: a whole-table export
//! spent most of its time in those wake-ups (about 12 µs a row, against 1.5 µs for SQLite
//! to produce the row). So on SQLite an export reads pages of rows in which SQLite itself
//! packs the page into one text value (`json_group_array(json_array(...))`), and this
//! module decodes that text straight into typed [`Cell`]s, column by column as the export's
//! [`Column`] specs say, without building JSON values on the way.
//!
//! SQLite gives integers and booleans as JSON numbers (booleans as `0`/`1`), text as JSON
//! strings and times as the text sqlx stores (`2026-12-01T12:00:00+00:00`); a text column
//! whose value SQLite still marks as JSON arrives as a JSON array or object and is kept as
//! its compact text, as a row-by-row read would have given it.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use crate::domain::exported::{Cell, Column, ColumnType, Table};

use super::StoreError;

/// The page query of an export table: its named query (filters, the previous page's key in
/// `?5`/`?6`, the page size in `?7`) wrapped so that the page comes back as one JSON array
/// of rows, each an array of the table's columns in order.
pub(crate) fn page_query(table: Table, query: &str) -> String {
    let columns: Vec<String> = table
        .columns()
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let key = match table {
        Table::Tags => "\"contact_id\", \"tag\"",
        _ => &columns[0],
    };
    format!(
        "SELECT json_group_array(json_array({}) ORDER BY {key}) FROM (\n{query}\n)",
        columns.join(", ")
    )
}

/// Where the next page starts: the key of the last row read (`?5`, `?6`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PageKey {
    pub id: i64,
    pub text: String,
}

impl PageKey {
    /// The key of a row of `table`: its first column (an id), and for tags the tag too.
    pub fn of(table: Table, row: &[Cell]) -> Result<PageKey, StoreError> {
        let bad = || StoreError::Corrupt(format!("an export row of {} has no key", table.as_str()));
        let id = match row.first() {
            Some(Cell::Int(id)) => *id,
            _ => return Err(bad()),
        };
        let text = match (table, row.get(2)) {
            (Table::Tags, Some(Cell::Text(tag))) => tag.clone(),
            (Table::Tags, _) => return Err(bad()),
            _ => String::new(),
        };
        Ok(PageKey { id, text })
    }
}

/// Decodes one page: a JSON array of rows, each a JSON array of `columns.len()` values.
pub(crate) fn decode(page: &str, columns: &[Column]) -> Result<Vec<Vec<Cell>>, StoreError> {
    let mut reader = serde_json::Deserializer::from_str(page);
    let rows = PageSeed { columns }
        .deserialize(&mut reader)
        .and_then(|rows| reader.end().map(|()| rows))
        .map_err(|e| StoreError::Corrupt(format!("an export page: {e}")))?;
    Ok(rows)
}

struct PageSeed<'c> {
    columns: &'c [Column],
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Vec<Vec<Cell>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Vec<Vec<Cell>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element_seed(RowSeed {
            columns: self.columns,
        })? {
            rows.push(row);
        }
        Ok(rows)
    }
}

struct RowSeed<'c> {
    columns: &'c [Column],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Cell>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Cell>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a row of {} values", self.columns.len())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut row = Vec::with_capacity(self.columns.len());
        for column in self.columns {
            match seq.next_element_seed(CellSeed { column })? {
                Some(cell) => row.push(cell),
                None => return Err(de::Error::invalid_length(row.len(), &self)),
            }
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(self.columns.len() + 1, &self));
        }
        Ok(row)
    }
}

/// One value, read as its column's type.
struct CellSeed<'c> {
    column: &'c Column,
}

impl CellSeed<'_> {
    fn wrong<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format_args!(
            "column `{}` ({}) holds {got}",
            self.column.name,
            self.column.ty.doc_name()
        ))
    }
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Cell;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = Cell;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} value", self.column.ty.doc_name())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
        if self.column.nullable {
            Ok(Cell::Null)
        } else {
            Err(E::custom(format_args!(
                "column `{}` is null, which its export does not allow",
                self.column.name
            )))
        }
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Cell, E> {
        match self.column.ty {
            ColumnType::Int64 | ColumnType::Int32 => Ok(Cell::Int(n)),
            ColumnType::Bool if n == 0 || n == 1 => Ok(Cell::Bool(n == 1)),
            _ => Err(self.wrong(n)),
        }
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Cell, E> {
        match i64::try_from(n) {
            Ok(n) => self.visit_i64(n),
            Err(_) => Err(self.wrong(n)),
        }
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Cell, E> {
        Err(self.wrong(n))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Cell, E> {
        match self.column.ty {
            ColumnType::Bool => Ok(Cell::Bool(b)),
            _ => Err(self.wrong(b)),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Cell, E> {
        match self.column.ty {
            ColumnType::Text => Ok(Cell::Text(text.to_string())),
            ColumnType::Time => parse_stored_time(text)
                .map(Cell::Time)
                .map_err(|e| E::custom(format_args!("column `{}`: {e}", self.column.name))),
            _ => Err(self.wrong(format_args!("the text `{text}`"))),
        }
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Cell, E> {
        match self.column.ty {
            ColumnType::Text => Ok(Cell::Text(text)),
            _ => self.visit_str(&text),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cell, A::Error> {
        let value: serde_json::Value =
            de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        self.json_text(value)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
        let value: serde_json::Value =
            de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.json_text(value)
    }
}

impl CellSeed<'_> {
    /// A JSON array or object SQLite passed on as JSON: its compact text, in a text column.
    fn json_text<E: de::Error>(self, value: serde_json::Value) -> Result<Cell, E> {
        match self.column.ty {
            ColumnType::Text => Ok(Cell::Text(value.to_string())),
            _ => Err(self.wrong(value)),
        }
    }
}

/// Reads a time as sqlx stores chrono values in SQLite (`2026-11-25T09:00:00+00:00`, with
/// up to nine fractional digits; older rows have a space for the `T`). UTC times of that
/// shape, which are all herald writes, are read directly; anything else goes through
/// chrono's general parsers.
pub(crate) fn parse_stored_time(t: &str) -> Result<DateTime<Utc>, StoreError> {
    if let Some(time) = utc_time_fast(t.as_bytes()) {
        return Ok(time);
    }
    DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z")
        .or_else(|_| DateTime::parse_from_rfc3339(t))
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time `{t}`: {e}")))
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]+00:00` (or a space for the `T`), or `None` for any other
/// shape.
fn utc_time_fast(b: &[u8]) -> Option<DateTime<Utc>> {
    let (main, zone) = b.split_at_checked(b.len().checked_sub(6)?)?;
    if zone != b"+00:00" || main.len() < 19 {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        main[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| main[i] != c) || !matches!(main[10], b'T' | b' ') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)?;
    let nanos = match &main[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(20..main.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let time = date.and_hms_nano_opt(digits(11..13)?, digits(14..16)?, digits(17..19)?, nanos)?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::exported::tables;

    #[test]
    fn a_page_decodes_into_cells_typed_by_their_columns() {
        let page = r#"[[7,"C7","Ana",null,"+447400123456",null,"es",null,"granted","unknown","unknown","{\"balance\":12.5}","[\"vip\"]","2026-11-25 09:00:00+00:00","2026-11-25 09:00:00.25+00:00"]]"#;
        let rows = decode(page, tables::CONTACTS).unwrap();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.len(), tables::CONTACTS.len());
        assert_eq!(row[0], Cell::Int(7));
        assert_eq!(row[2], Cell::Text("Ana".into()));
        assert_eq!(row[3], Cell::Null);
        assert_eq!(row[11], Cell::Text(r#"{"balance":12.5}"#.into()));
        assert_eq!(
            row[14],
            Cell::Time(
                DateTime::parse_from_rfc3339("2026-11-25T09:00:00.25Z")
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
    }

    #[test]
    fn json_that_sqlite_passes_on_as_json_stays_its_compact_text() {
        let page = r#"[[1,"C1","vip","import","2026-11-25 09:00:00+00:00",null]]"#;
        assert_eq!(
            decode(page, tables::TAGS).unwrap()[0][2],
            Cell::Text("vip".into())
        );
        let nested = r#"[[7,"C7",null,null,null,null,null,null,"unknown","unknown","unknown",{"a": [1, 2]},["vip","x"],"2026-11-25 09:00:00+00:00","2026-11-25 09:00:00+00:00"]]"#;
        let row = &decode(nested, tables::CONTACTS).unwrap()[0];
        assert_eq!(row[11], Cell::Text(r#"{"a":[1,2]}"#.into()));
        assert_eq!(row[12], Cell::Text(r#"["vip","x"]"#.into()));
    }

    #[test]
    fn a_page_that_does_not_fit_its_columns_is_refused_with_the_column() {
        let short = r#"[[1,"C1","vip"]]"#;
        assert!(decode(short, tables::TAGS).is_err());
        let long = r#"[[1,"C1","vip","import","2026-11-25 09:00:00+00:00",null,9]]"#;
        assert!(decode(long, tables::TAGS).is_err());
        let null_id = r#"[[null,"C1","vip","import","2026-11-25 09:00:00+00:00",null]]"#;
        let err = decode(null_id, tables::TAGS).unwrap_err().to_string();
        assert!(err.contains("contact_id"), "{err}");
        let text_id = r#"[["x","C1","vip","import","2026-11-25 09:00:00+00:00",null]]"#;
        let err = decode(text_id, tables::TAGS).unwrap_err().to_string();
        assert!(err.contains("contact_id"), "{err}");
        assert_eq!(decode("[]", tables::TAGS).unwrap(), Vec::<Vec<Cell>>::new());
        assert!(decode("[] x", tables::TAGS).is_err());
    }

    #[test]
    fn stored_times_read_the_same_on_the_fast_path_and_through_chrono() {
        for text in [
            "2026-11-25T09:00:00+00:00",
            "2026-11-25T09:00:00.587814049+00:00",
            "2026-11-25 09:00:00+00:00",
            "2026-11-25 09:00:00.5+00:00",
            "2026-11-25 09:00:00.587814049+00:00",
            "2024-02-29 23:59:59.000001+00:00",
        ] {
            let fast = utc_time_fast(text.as_bytes()).expect(text);
            let slow = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(fast, slow, "{text}");
        }
        // Other shapes take the general path, and still read.
        for text in [
            "2026-11-25T10:00:00+01:00",
            "2026-11-25T09:00:00Z",
            "2026-11-25 09:00:00.1234567890+00:00",
        ] {
            assert!(utc_time_fast(text.as_bytes()).is_none(), "{text}");
            assert!(parse_stored_time(text).is_ok(), "{text}");
        }
        for bad in [
            "2026-02-30T09:00:00+00:00",
            "2026-11-25X09:00:00+00:00",
            "2026-11-25 25:00:00+00:00",
            "2026-11-25 09:00:00.+00:00",
            "+00:00",
            "",
        ] {
            assert!(utc_time_fast(bad.as_bytes()).is_none(), "{bad}");
            assert!(parse_stored_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_page_key_is_the_id_and_for_tags_the_tag_too() {
        let row = [
            Cell::Int(3),
            Cell::Text("C3".into()),
            Cell::Text("vip".into()),
        ];
        assert_eq!(
            PageKey::of(Table::Tags, &row).unwrap(),
            PageKey {
                id: 3,
                text: "vip".into()
            }
        );
        assert_eq!(PageKey::of(Table::Events, &row).unwrap().text, "");
        assert!(PageKey::of(Table::Events, &[Cell::Null]).is_err());
    }
}
