//! Where versions are published: a sluice model repository in a directory,
//! in object storage (`s3://`, `gs://`, `az://`, the same layout), or the
//! MLflow Model Registry (`mlflow+http://`). The server's existing sources
//! load what is published here, unchanged.

mod directory;
mod mlflow;
mod object_storage;

use std::path::{Path, PathBuf};

pub use directory::write_atomically;

use crate::metadata::{Metadata, Status};

/// The model-level config published with a model's first version: served by
/// the ONNX backend, the newest version only.
pub const MODEL_TOML: &str = "backend = \"onnx\"\nmax_batch_size = 64\n\n[batching]\nmax_queue_delay_us = 0\n";
pub const MODEL_TOML_FILE: &str = "model.toml";

pub enum Destination {
    Directory(directory::DirectoryRepo),
    ObjectStore(object_storage::ObjectRepo),
    Mlflow(mlflow::MlflowRepo),
}

impl Destination {
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(base) = text.strip_prefix("mlflow+") {
            return Ok(Destination::Mlflow(mlflow::MlflowRepo::new(base)?));
        }
        if sluice_remote_sources::is_remote(text) {
            return Ok(Destination::ObjectStore(object_storage::ObjectRepo::open(text)?));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "'{text}': unsupported destination scheme '{scheme}://' (a directory, s3://, gs://, az://, mlflow+http(s)://)"
            ));
        }
        Ok(Destination::Directory(directory::DirectoryRepo::new(PathBuf::from(text))))
    }

    pub fn describe(&self) -> String {
        match self {
            Destination::Directory(d) => d.describe(),
            Destination::ObjectStore(o) => o.describe(),
            Destination::Mlflow(m) => m.describe(),
        }
    }

    /// A fresh local directory to build a version in (inside the repository
    /// for a directory, so publishing is a rename).
    pub fn staging_dir(&self, model: &str) -> Result<PathBuf, String> {
        match self {
            Destination::Directory(d) => d.staging_dir(model),
            Destination::ObjectStore(_) | Destination::Mlflow(_) => fresh_dir(&std::env::temp_dir(), model),
        }
    }

    /// Every version of `model` and its trainer metadata (None when absent or
    /// not written by the trainer: such versions are left alone). The status
    /// is the destination's: metadata.json, or MLflow's tag.
    pub fn versions(&self, model: &str) -> Result<Vec<(u64, Option<Metadata>)>, String> {
        match self {
            Destination::Directory(d) => d.versions(model),
            Destination::ObjectStore(o) => block_on(o.versions(model)),
            Destination::Mlflow(m) => block_on(m.versions(model)),
        }
    }

    /// Publishes the staged directory as the next version of `model`,
    /// writing metadata.json with that version number; returns the version.
    pub fn publish(&self, model: &str, staged: &Path, metadata: &mut Metadata) -> Result<u64, String> {
        match self {
            Destination::Directory(d) => d.publish(model, staged, metadata),
            Destination::ObjectStore(o) => block_on(o.publish(model, staged, metadata)),
            Destination::Mlflow(m) => block_on(m.publish(model, staged, metadata)),
        }
    }

    /// One file of a published version (the drift detector's reference).
    pub fn read_file(&self, model: &str, version: u64, file: &str) -> Result<Vec<u8>, String> {
        if file.contains('/') || file.contains("..") {
            return Err(format!("'{file}' is not a plain file name"));
        }
        match self {
            Destination::Directory(d) => d.read_file(model, version, file),
            Destination::ObjectStore(o) => block_on(o.read_file(model, version, file)),
            Destination::Mlflow(m) => block_on(m.read_file(model, version, file)),
        }
    }

    /// Records a version's new status (metadata.json, or MLflow's tag and aliases).
    pub fn set_status(&self, model: &str, metadata: &mut Metadata, to: Status, at: &str) -> Result<(), String> {
        metadata.set_status(to, at);
        match self {
            Destination::Directory(d) => d.write_metadata(model, metadata),
            Destination::ObjectStore(o) => block_on(o.write_metadata(model, metadata)),
            Destination::Mlflow(m) => block_on(m.set_status(model, metadata.version, to)),
        }
    }
}

pub fn fresh_dir(parent: &Path, model: &str) -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = parent.join(format!(".staging-{model}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Runs remote I/O from the trainer's synchronous pipeline: on the tokio
/// runtime the caller entered (the CLI's, or the webhook's blocking thread).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(future),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for remote destinations")
            .block_on(future),
    }
}

/// The files of a staged version, metadata.json last: a version is complete
/// once its digests are there.
fn upload_order(staged: &Path) -> Result<Vec<String>, String> {
    let mut files: Vec<String> = std::fs::read_dir(staged)
        .map_err(|e| format!("cannot list {}: {e}", staged.display()))?
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort_by_key(|f| (f == crate::metadata::FILE, f.clone()));
    Ok(files)
}
