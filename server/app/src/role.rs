//! The rollout role, from `--role` or from a Kubernetes downward-API labels
//! file that is watched: Argo Rollouts relabels pods in place on promotion,
//! and the kubelet rewrites the file, so the role changes while we run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sluice_core::metrics::Metrics;

/// How often the labels file is re-read (the issue asks for a change to be
/// picked up within 2 s).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The value of `label` in a downward-API labels file (lines `key="value"`,
/// values quoted as Go's %q does).
pub fn parse_label(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == label).then(|| unquote(value.trim()))
    })
}

fn unquote(value: &str) -> String {
    let inner = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum RoleFileError {
    #[error("cannot read the role labels file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the role labels file {path} has no label '{label}'")]
    MissingLabel { path: String, label: String },
}

/// Reads the role from the labels file.
pub fn read_role(path: &Path, label: &str) -> Result<String, RoleFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| RoleFileError::Read { path: path.display().to_string(), source })?;
    parse_label(&text, label)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| RoleFileError::MissingLabel { path: path.display().to_string(), label: label.to_owned() })
}

/// Re-reads the labels file every `POLL_INTERVAL`; a change updates the
/// metrics' role, a read error keeps the last good role and is logged once
/// per streak.
pub async fn watch(metrics: Arc<Metrics>, path: PathBuf, label: String) {
    let role = &metrics.role;
    let mut failing = false;
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        match read_role(&path, &label) {
            Ok(now) => {
                failing = false;
                let before = role.get();
                if *before != now {
                    tracing::info!(from = %before, to = %now, "rollout role changed");
                    metrics.set_role(now);
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(role = %role.get(), "keeping the last role: {e}");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_downward_api_labels() {
        let text = "app=\"fraud\"\nrole=\"canary\"\nrollouts-pod-template-hash=\"7d9f\"\nescaped=\"a\\\"b\"\n";
        assert_eq!(parse_label(text, "role").as_deref(), Some("canary"));
        assert_eq!(parse_label(text, "escaped").as_deref(), Some("a\"b"));
        assert_eq!(parse_label(text, "missing"), None);
    }
}
