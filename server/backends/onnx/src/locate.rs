//! Finding `libonnxruntime.so` without the user having to say where it is.

use std::path::{Path, PathBuf};

/// The library named by `explicit` (flag or `ORT_DYLIB_PATH`), else the one
/// `make setup` installed: the onnxruntime wheel inside a `.venv` found next
/// to the working directory or the executable, or one of their parents.
pub fn find_onnxruntime(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        roots.extend(exe_dir.ancestors().map(Path::to_path_buf));
    }
    roots.push(PathBuf::from("/opt/sluice"));
    roots.iter().find_map(|root| in_venv(&root.join(".venv")))
}

/// `<venv>/lib/python3.*/site-packages/onnxruntime/capi/libonnxruntime.so*`
fn in_venv(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    for python in lib.flatten() {
        let capi = python.path().join("site-packages/onnxruntime/capi");
        let Ok(files) = std::fs::read_dir(&capi) else {
            continue;
        };
        let mut found: Vec<PathBuf> = files
            .flatten()
            .map(|f| f.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
            .collect();
        found.sort();
        if let Some(path) = found.pop() {
            return Some(path);
        }
    }
    None
}
