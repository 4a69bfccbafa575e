//! Model files sent with a load request (Triton's `file:<path>` load
//! parameters): written into a fresh directory of their own, with no path
//! leaving it, and served from there instead of the repository until the
//! model is loaded without files or unloaded.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::error::InferError;
use crate::lifecycle::registry::is_plain_name;

/// Files of a load request: path inside the model directory, content.
pub type ModelFiles = Vec<(String, Bytes)>;

/// Most files one load request may carry.
pub const MAX_FILES: usize = 1024;

/// Where uploaded models are written (one directory per load).
fn upload_root() -> PathBuf {
    std::env::temp_dir().join("sluice-uploads")
}

/// Checks that `relative` names a file inside the model directory.
fn safe_relative(relative: &str) -> Result<&Path, InferError> {
    let path = Path::new(relative);
    let plain = !relative.is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(part) if !part.to_string_lossy().starts_with('.')));
    if !plain {
        return Err(InferError::invalid(format!(
            "file:{relative} must be a relative path inside the model directory (e.g. file:1/model.onnx)"
        )));
    }
    Ok(path)
}

/// Writes `files` (path relative to the model directory, content) into a new
/// directory and returns it. Nothing is written unless every path is safe.
pub fn write_model_files(model: &str, files: &[(String, Bytes)]) -> Result<PathBuf, InferError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if !is_plain_name(model) {
        return Err(InferError::invalid(format!("'{model}' is not a model name")));
    }
    if files.len() > MAX_FILES {
        return Err(InferError::invalid(format!("a load request carries at most {MAX_FILES} files")));
    }
    let paths = files.iter().map(|(relative, _)| safe_relative(relative)).collect::<Result<Vec<_>, _>>()?;
    let unique = format!("{model}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let dir = upload_root().join(unique);
    let io = |e: std::io::Error| InferError::Backend(format!("cannot store the uploaded model files: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, (_, content)) in paths.iter().zip(files) {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&target, content).map_err(io)?;
    }
    Ok(dir)
}

/// Removes an upload directory (best effort: it is under the temp dir).
pub fn remove(dir: &Path) {
    if dir.starts_with(upload_root()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_inside_a_fresh_directory_and_refuses_escapes() {
        let files = vec![("1/model.onnx".to_owned(), Bytes::from_static(b"x")), ("model.toml".into(), Bytes::new())];
        let dir = write_model_files("m", &files).expect("written");
        assert!(dir.join("1/model.onnx").is_file() && dir.join("model.toml").is_file());
        remove(&dir);
        assert!(!dir.exists());
        for bad in ["../x", "/etc/passwd", "1/../../x", "", ".hidden", "1/.git/x"] {
            let files = vec![(bad.to_owned(), Bytes::new())];
            assert!(matches!(write_model_files("m", &files), Err(InferError::InvalidInput(_))), "{bad}");
        }
        assert!(write_model_files("../m", &[]).is_err());
    }
}
