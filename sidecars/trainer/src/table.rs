//! A data set as numeric columns, and what can go wrong reading one.

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
    #[error("column '{column}', row {row}: {why}")]
    Value { column: String, row: usize, why: String },
    #[error("{0}")]
    Schema(String),
}

/// Numeric columns by name, all the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Vec<f64>>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.names.iter().position(|n| n == name).map(|i| self.columns[i].as_slice())
    }
}
