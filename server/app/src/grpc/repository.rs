//! Protobuf <-> core for the model-repository extension.

use std::collections::HashMap;

use sluice_core::swap::policy_from_load_config;
use sluice_core::{IndexEntry, InferError, VersionPolicy};
use sluice_proto::model_repository_parameter::ParameterChoice;
use sluice_proto::{ModelRepositoryParameter, RepositoryIndexResponse, repository_index_response};

pub fn repository_index(rows: Vec<IndexEntry>) -> RepositoryIndexResponse {
    RepositoryIndexResponse {
        models: rows
            .into_iter()
            .map(|row| repository_index_response::ModelIndex {
                name: row.name,
                version: row.version,
                state: row.state.to_owned(),
                reason: row.reason,
            })
            .collect(),
    }
}

/// The version-policy override in a load request's `config` parameter.
pub fn load_policy(
    parameters: &HashMap<String, ModelRepositoryParameter>,
) -> Result<Option<VersionPolicy>, InferError> {
    match parameters.get("config").and_then(|p| p.parameter_choice.as_ref()) {
        None => Ok(None),
        Some(ParameterChoice::StringParam(config)) => policy_from_load_config(config).map(Some),
        Some(ParameterChoice::BytesParam(config)) => {
            let text = std::str::from_utf8(config).map_err(|_| InferError::invalid("'config' is not UTF-8"))?;
            policy_from_load_config(text).map(Some)
        }
        Some(_) => Err(InferError::invalid("'config' must be a string parameter holding JSON")),
    }
}
