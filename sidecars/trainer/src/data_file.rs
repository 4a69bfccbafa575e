//! Reading a data file into numeric columns: CSV or Parquet, picked by the
//! file's extension. Every value must parse as a number; the first one that
//! does not is reported with its column and row (rows count from 1, header
//! excluded), so a user can find it in the file.

use std::path::Path;

use crate::parquet_io;
use crate::table::{DataError, Table};

pub fn read(path: &Path) -> Result<Table, DataError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("parquet") | Some("pq") => parquet_io::read(path),
        Some("csv") => read_csv(path),
        _ => Err(DataError::Read {
            path: path.display().to_string(),
            why: "unknown file type: name it .csv or .parquet".into(),
        }),
    }
}

fn read_csv(path: &Path) -> Result<Table, DataError> {
    let fail = |why: String| DataError::Read { path: path.display().to_string(), why };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).flexible(true).from_path(path).map_err(|e| fail(e.to_string()))?;
    let names: Vec<String> =
        reader.headers().map_err(|e| fail(e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
    if names.is_empty() {
        return Err(fail("no header row".into()));
    }
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut record = csv::StringRecord::new();
    let mut row = 0;
    while reader.read_record(&mut record).map_err(|e| fail(e.to_string()))? {
        row += 1;
        if record.len() != names.len() {
            return Err(DataError::Value {
                column: names.get(record.len()).or(names.last()).cloned().unwrap_or_default(),
                row,
                why: format!("{} fields where the header has {}", record.len(), names.len()),
            });
        }
        for (i, field) in record.iter().enumerate() {
            let text = field.trim();
            let value = text.parse::<f64>().map_err(|_| DataError::Value {
                column: names[i].clone(),
                row,
                why: if text.is_empty() { "missing value".into() } else { format!("'{text}' is not a number") },
            })?;
            columns[i].push(value);
        }
    }
    Ok(Table { names, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new().suffix(".csv").tempfile().expect("temp file");
        std::fs::write(file.path(), text).expect("write");
        file
    }

    #[test]
    fn reads_quoted_numbers() {
        let file = csv_file("\"a\",\"b\"\n1,\"0\"\n2.5,\"1\"\n");
        let table = read(file.path()).expect("reads");
        assert_eq!(table.names, ["a", "b"]);
        assert_eq!(table.columns, vec![vec![1.0, 2.5], vec![0.0, 1.0]]);
    }

    #[test]
    fn names_the_column_and_row_of_a_bad_value() {
        let file = csv_file("a,b\n1,2\n3,x\n");
        let error = read(file.path()).expect_err("not a number").to_string();
        assert_eq!(error, "column 'b', row 2: 'x' is not a number");
        let file = csv_file("a,b\n1,\n");
        assert_eq!(read(file.path()).expect_err("missing").to_string(), "column 'b', row 1: missing value");
    }
}
