//! Protobuf <-> core for the model-repository extension.

use std::collections::HashMap;

use sluice_core::lifecycle::uploads::ModelFiles;
use sluice_core::model::load_override::LoadOverride;
use sluice_core::{IndexEntry, InferError};
use sluice_proto::model_repository_parameter::ParameterChoice;
use sluice_proto::{ModelRepositoryParameter, RepositoryIndexResponse, repository_index_response};

pub fn repository_index(rows: Vec<IndexEntry>) -> RepositoryIndexResponse {
    RepositoryIndexResponse {
        models: rows
            .into_iter()
            .map(|row| repository_index_response::ModelIndex {
                name: row.name,
                version: row.version.map(|v| v.to_string()).unwrap_or_default(),
                state: row.state.as_str().to_owned(),
                reason: row.reason,
            })
            .collect(),
    }
}

/// A load request's `config` parameter (overrides) and `file:` parameters
/// (model files uploaded with it).
pub fn load_parameters(
    parameters: HashMap<String, ModelRepositoryParameter>,
) -> Result<(Option<LoadOverride>, ModelFiles), InferError> {
    let mut overrides = None;
    let mut files = Vec::new();
    for (key, parameter) in parameters {
        match (key.as_str(), parameter.parameter_choice) {
            ("config", Some(ParameterChoice::StringParam(config))) => overrides = Some(LoadOverride::parse(&config)?),
            ("config", Some(ParameterChoice::BytesParam(config))) => {
                let text = std::str::from_utf8(&config).map_err(|_| InferError::invalid("'config' is not UTF-8"))?;
                overrides = Some(LoadOverride::parse(text)?);
            }
            ("config", _) => return Err(InferError::invalid("'config' must be a string parameter holding JSON")),
            (path, Some(ParameterChoice::BytesParam(content))) if path.starts_with("file:") => {
                files.push((path["file:".len()..].to_owned(), content));
            }
            (path, _) if path.starts_with("file:") => {
                return Err(InferError::invalid(format!("parameter '{path}' must be a bytes parameter")));
            }
            _ => {}
        }
    }
    Ok((overrides, files))
}
