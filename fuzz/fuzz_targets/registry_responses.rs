//! MLflow Model Registry answers (version lists, single versions, artifact
//! listings) and --mlflow-model specs: parsing never panics, and no artifact
//! path from a listing can leave the cache directory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice_remote_sources::mlflow_wire::{ArtifactList, OneVersion, VersionList, artifact_path, ready_versions};

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = serde_json::from_slice::<VersionList>(data) {
        let (_, newest) = ready_versions(list.model_versions);
        if let Some(source) = newest {
            let _ = artifact_path(&source);
        }
    }
    if let Ok(one) = serde_json::from_slice::<OneVersion>(data) {
        let _ = artifact_path(&one.model_version.source);
    }
    if let Ok(listing) = serde_json::from_slice::<ArtifactList>(data) {
        let cache = std::path::Path::new("/cache/model/1");
        for file in listing.files {
            if let Ok(path) = sluice_remote_sources::safe_join(cache, &file.path) {
                assert!(path.starts_with(cache) && path != cache, "{:?} escapes the cache", file.path);
            }
        }
    }
    if let Ok(spec) = std::str::from_utf8(data) {
        let _ = sluice_remote_sources::MlflowModel::parse(spec);
    }
});
