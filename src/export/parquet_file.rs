//! Parquet: typed columns, Snappy-compressed, in row groups of [`ROW_GROUP_ROWS`] rows.
//!
//! Rows go into Arrow builders; each full group becomes one record batch, written and
//! dropped, so the sink holds one group at most. Types: int64 and int32 as `INT64` and
//! `INT32`, bool as `BOOLEAN`, text as UTF-8 `BYTE_ARRAY`, times as
//! `TIMESTAMP(MICROS, UTC)`. A column that can be null is an optional field.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{Cell, Column, ColumnType, ExportError, ROW_GROUP_ROWS, Sink};

/// The Arrow type of a column.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Text => DataType::Utf8,
        ColumnType::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

enum Builder {
    Int64(Int64Builder),
    Int32(Int32Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    Time(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(ty: ColumnType) -> Builder {
        let n = ROW_GROUP_ROWS;
        match ty {
            ColumnType::Int64 => Builder::Int64(Int64Builder::with_capacity(n)),
            ColumnType::Int32 => Builder::Int32(Int32Builder::with_capacity(n)),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(n)),
            ColumnType::Text => Builder::Text(StringBuilder::with_capacity(n, n * 16)),
            ColumnType::Time => {
                Builder::Time(TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"))
            }
        }
    }

    fn append(&mut self, column: &Column, cell: &Cell) -> Result<(), ExportError> {
        match (self, cell) {
            (Builder::Int64(b), Cell::Null) => b.append_null(),
            (Builder::Int32(b), Cell::Null) => b.append_null(),
            (Builder::Bool(b), Cell::Null) => b.append_null(),
            (Builder::Text(b), Cell::Null) => b.append_null(),
            (Builder::Time(b), Cell::Null) => b.append_null(),
            (Builder::Int64(b), Cell::Int(n)) => b.append_value(*n),
            (Builder::Int32(b), Cell::Int(n)) => {
                b.append_value(i32::try_from(*n).map_err(|_| ExportError::OutOfRange {
                    column: column.name,
                    value: *n,
                    ty: "int32",
                })?)
            }
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Builder::Text(b), Cell::Text(t)) => b.append_value(t),
            (Builder::Time(b), Cell::Time(t)) => b.append_value(t.timestamp_micros()),
            (_, cell) => {
                // The store reads each column by its type, so this is a programming error;
                // say which column rather than write a wrong file.
                return Err(ExportError::Arrow(
                    arrow_schema::ArrowError::InvalidArgumentError(format!(
                        "column `{}` got {cell:?}, not a {:?}",
                        column.name, column.ty
                    )),
                ));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
        }
    }
}

pub struct ParquetSink<W: Write + Send> {
    columns: &'static [Column],
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    writer: ArrowWriter<W>,
}

impl<W: Write + Send> ParquetSink<W> {
    pub fn new(columns: &'static [Column], out: W) -> Result<ParquetSink<W>, ExportError> {
        let schema: SchemaRef = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(c.name, arrow_type(c.ty), c.nullable))
                .collect::<Vec<_>>(),
        ));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("herald {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))?;
        Ok(ParquetSink {
            columns,
            schema,
            builders: columns.iter().map(|c| Builder::new(c.ty)).collect(),
            rows: 0,
            writer,
        })
    }

    /// Writes the buffered rows as one row group.
    fn flush_group(&mut self) -> Result<(), ExportError> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        self.writer.write(&batch)?;
        // The writer buffers encoded pages until the group is full: close it now so
        // memory is bounded by one group, whatever the writer's own heuristics.
        self.writer.flush()?;
        self.rows = 0;
        Ok(())
    }
}

impl<W: Write + Send> Sink for ParquetSink<W> {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), ExportError> {
        for ((builder, column), cell) in self.builders.iter_mut().zip(self.columns).zip(row) {
            builder.append(column, cell)?;
        }
        self.rows += 1;
        if self.rows == ROW_GROUP_ROWS {
            self.flush_group()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        self.flush_group()?;
        let mut out = self.writer.into_inner()?;
        out.flush().map_err(|source| ExportError::Io {
            doing: "flushing the Parquet output",
            source,
        })
    }
}
