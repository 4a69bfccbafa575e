//! The reference a served version is compared with: the sample of training
//! inputs (and the model's predictions on them) that sluice-trainer
//! published beside the version, found through its metadata.json, or a
//! data file given on the command line.

use std::path::Path;

use sluice_trainer::destination::Destination;
use sluice_trainer::metadata::Metadata;

#[derive(Debug, Clone)]
pub struct Reference {
    /// Feature names in the served input's column order.
    pub features: Vec<String>,
    /// Per feature, the reference values.
    pub columns: Vec<Vec<f64>>,
    /// The model's fraud probability on each reference row, when published.
    pub predictions: Option<Vec<f64>>,
    pub source: String,
}

/// The version's metadata.json -> its reference file, from the repository the
/// server serves (a directory, `s3://`/`gs://`/`az://`, or `mlflow+http://`).
pub fn from_repository(repository: &str, model: &str, version: u64) -> Result<Reference, String> {
    let source = Destination::parse(repository)?;
    let no_profile =
        |why: String| format!("version {version} of '{model}' has no drift profile in {repository}: {why}");
    let text = source.read_file(model, version, sluice_trainer::metadata::FILE).map_err(no_profile)?;
    let origin = format!("{repository}/{model}/{version}/{}", sluice_trainer::metadata::FILE);
    let metadata = Metadata::parse(&String::from_utf8_lossy(&text), &origin)?;
    let features: Vec<String> = metadata.feature_schema.features.iter().map(|f| f.name.clone()).collect();
    let bytes = source.read_file(model, version, &metadata.reference.file).map_err(no_profile)?;
    // The readers take a file: keep it under the system temp dir while reading.
    let dir = std::env::temp_dir().join(format!("sluice-drift-{}-{model}-{version}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join(&metadata.reference.file);
    std::fs::write(&file, bytes).map_err(|e| e.to_string())?;
    let table = sluice_trainer::data_file::read(&file).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let table = table?;
    let mut reference = from_table(&table, &file, Some(&features))?;
    reference.predictions = table.column(&metadata.reference.prediction_column).map(<[f64]>::to_vec);
    reference.source = origin.replace(sluice_trainer::metadata::FILE, &metadata.reference.file);
    Ok(reference)
}

/// A CSV or Parquet file; `features` picks and orders its columns (default: all).
pub fn from_file(path: &Path, features: Option<&[String]>) -> Result<Reference, String> {
    let table = sluice_trainer::data_file::read(path).map_err(|e| e.to_string())?;
    from_table(&table, path, features)
}

fn from_table(
    table: &sluice_trainer::table::Table,
    path: &Path,
    features: Option<&[String]>,
) -> Result<Reference, String> {
    let features: Vec<String> = features.map_or_else(|| table.names.clone(), <[String]>::to_vec);
    let columns = features
        .iter()
        .map(|f| table.column(f).map(<[f64]>::to_vec).ok_or_else(|| format!("{}: no column '{f}'", path.display())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reference { features, columns, predictions: None, source: path.display().to_string() })
}
