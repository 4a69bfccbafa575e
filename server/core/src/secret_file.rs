//! Tokens read from files (a mounted Kubernetes Secret) rather than the
//! environment, where they would show in /proc and in child processes.

use std::path::Path;

/// The file's content without trailing whitespace (Secrets created with
/// `echo` end in a newline); an empty or unreadable file is an error.
pub fn read_secret(path: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
    let token = text.trim_end();
    if token.is_empty() {
        return Err(format!("the token file {} is empty", path.display()));
    }
    Ok(token.to_owned())
}

/// `given`, else the content of `file` when one is named.
pub fn token_from(given: Option<String>, file: Option<&Path>) -> Result<Option<String>, String> {
    match (given, file) {
        (Some(token), _) => Ok(Some(token)),
        (None, Some(path)) => read_secret(path).map(Some),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_the_newline_and_refuses_empty_or_missing_files() {
        let dir = std::env::temp_dir().join(format!("sluice-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp file");
        let token = dir.join("token");
        std::fs::write(&token, "s3cret\n").expect("temp file");
        assert_eq!(read_secret(&token).expect("temp file"), "s3cret");
        assert_eq!(token_from(Some("flag".into()), Some(&token)).expect("temp file").as_deref(), Some("flag"));
        assert_eq!(token_from(None, Some(&token)).expect("temp file").as_deref(), Some("s3cret"));
        assert_eq!(token_from(None, None).expect("temp file"), None);
        std::fs::write(&token, "\n").expect("temp file");
        assert!(read_secret(&token).expect_err("refused").contains("empty"));
        assert!(read_secret(&dir.join("missing")).expect_err("refused").contains("cannot read"));
        std::fs::remove_dir_all(&dir).expect("temp file");
    }
}
