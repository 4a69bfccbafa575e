//! Parquet in and out, without Arrow (a long build for the little we need):
//! flat numeric columns only, read with the typed column readers, written
//! as one row group with snappy compression.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, Repetition, Type as PhysicalType};
use parquet::column::reader::ColumnReader;
use parquet::column::writer::ColumnWriter;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::table::{DataError, Table};

const BATCH: usize = 64 * 1024;

pub fn read(path: &Path) -> Result<Table, DataError> {
    let fail = |why: String| DataError::Read { path: path.display().to_string(), why };
    let file = File::open(path).map_err(|e| fail(e.to_string()))?;
    let reader = SerializedFileReader::new(file).map_err(|e| fail(e.to_string()))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let mut names = Vec::new();
    let mut picked = Vec::new();
    for i in 0..schema.num_columns() {
        let column = schema.column(i);
        // pandas stores a non-default index as a column of its own.
        if column.name().starts_with("__index_level_") {
            continue;
        }
        if column.max_rep_level() > 0 || column.path().parts().len() > 1 {
            return Err(fail(format!("column '{}' is nested; only flat numeric columns are read", column.path())));
        }
        names.push(column.name().to_string());
        picked.push(i);
    }
    let rows = usize::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0);
    let mut columns: Vec<Vec<f64>> = (0..picked.len()).map(|_| Vec::with_capacity(rows)).collect();
    for group in 0..reader.num_row_groups() {
        let row_group = reader.get_row_group(group).map_err(|e| fail(e.to_string()))?;
        for (slot, &i) in picked.iter().enumerate() {
            let out = &mut columns[slot];
            let first_row = out.len() + 1;
            let reader = row_group.get_column_reader(i).map_err(|e| fail(e.to_string()))?;
            let nullable = schema.column(i).max_def_level() > 0;
            read_column(reader, out, nullable).map_err(|why| match why {
                ColumnProblem::Null(offset) => DataError::Value {
                    column: names[slot].clone(),
                    row: first_row + offset,
                    why: "missing value".into(),
                },
                ColumnProblem::NotNumeric => DataError::Value {
                    column: names[slot].clone(),
                    row: first_row,
                    why: "not a number (the column is not numeric)".into(),
                },
                ColumnProblem::Parquet(e) => fail(e),
            })?;
        }
    }
    Ok(Table { names, columns })
}

enum ColumnProblem {
    /// A null, at this offset within the row group.
    Null(usize),
    NotNumeric,
    Parquet(String),
}

fn read_column(reader: ColumnReader, out: &mut Vec<f64>, nullable: bool) -> Result<(), ColumnProblem> {
    macro_rules! drain {
        ($reader:expr, $convert:expr) => {{
            let mut reader = $reader;
            let start = out.len();
            let mut values = Vec::new();
            let mut levels = Vec::new();
            loop {
                values.clear();
                levels.clear();
                let (records, _, _) = reader
                    .read_records(BATCH, nullable.then_some(&mut levels), None, &mut values)
                    .map_err(|e| ColumnProblem::Parquet(e.to_string()))?;
                if records == 0 {
                    break;
                }
                if let Some(at) = levels.iter().position(|&l| l == 0) {
                    return Err(ColumnProblem::Null(out.len() - start + at));
                }
                out.extend(values.iter().map($convert));
            }
            Ok(())
        }};
    }
    match reader {
        ColumnReader::DoubleColumnReader(r) => drain!(r, |&v: &f64| v),
        ColumnReader::FloatColumnReader(r) => drain!(r, |&v: &f32| f64::from(v)),
        ColumnReader::Int32ColumnReader(r) => drain!(r, |&v: &i32| f64::from(v)),
        ColumnReader::Int64ColumnReader(r) => drain!(r, |&v: &i64| v as f64),
        ColumnReader::BoolColumnReader(r) => drain!(r, |&v: &bool| f64::from(u8::from(v))),
        _ => Err(ColumnProblem::NotNumeric),
    }
}

/// A column to write: FP32 features and predictions, INT32 labels.
pub enum OutColumn<'a> {
    Float(&'a str, Vec<f32>),
    Int(&'a str, Vec<i32>),
}

pub fn write(path: &Path, columns: Vec<OutColumn>) -> Result<(), String> {
    let fields = columns
        .iter()
        .map(|c| {
            let (name, physical) = match c {
                OutColumn::Float(n, _) => (*n, PhysicalType::FLOAT),
                OutColumn::Int(n, _) => (*n, PhysicalType::INT32),
            };
            Type::primitive_type_builder(name, physical).with_repetition(Repetition::REQUIRED).build().map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let schema = Type::group_type_builder("schema").with_fields(fields).build().map_err(|e| e.to_string())?;
    // A fixed created_by keeps the bytes independent of the parquet crate's version.
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("sluice-trainer".into())
        .build();
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(|e| e.to_string())?;
    let mut group = writer.next_row_group().map_err(|e| e.to_string())?;
    for column in &columns {
        let mut out = group.next_column().map_err(|e| e.to_string())?.ok_or("parquet: fewer columns than schema")?;
        let written = match (out.untyped(), column) {
            (ColumnWriter::FloatColumnWriter(w), OutColumn::Float(_, v)) => w.write_batch(v, None, None),
            (ColumnWriter::Int32ColumnWriter(w), OutColumn::Int(_, v)) => w.write_batch(v, None, None),
            _ => return Err("parquet: column type mismatch".into()),
        };
        written.map_err(|e| e.to_string())?;
        out.close().map_err(|e| e.to_string())?;
    }
    group.close().map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_float_and_int_columns() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.parquet");
        write(&path, vec![OutColumn::Float("x", vec![1.5, -2.0]), OutColumn::Int("y", vec![0, 1])]).expect("write");
        let table = crate::data_file::read(&path).expect("read");
        assert_eq!(table.names, ["x", "y"]);
        assert_eq!(table.columns, vec![vec![1.5, -2.0], vec![0.0, 1.0]]);
        let again = dir.path().join("u.parquet");
        write(&again, vec![OutColumn::Float("x", vec![1.5, -2.0]), OutColumn::Int("y", vec![0, 1])]).expect("write");
        assert_eq!(std::fs::read(&path).ok(), std::fs::read(&again).ok(), "same input, same bytes");
    }
}
