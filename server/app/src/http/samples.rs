//! `GET /v2/models/{m}/versions/{v}/samples?since=<cursor>&limit=<rows>`:
//! the rows a version served that were sampled (`--sample-rate`), for the
//! drift detector. Live inputs are customer data: behind the admin token
//! when one is set. Columnar: one tensor per input and output, the sampled
//! requests concatenated along the batch dimension, as v2 responses encode
//! tensors; `cursor` is where the next read starts, `dropped` how many rows
//! since `since` were evicted before they could be read.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sluice_core::serving::request::parse_version;
use sluice_core::serving::sample_rows::page_limit;
use sluice_core::{InferError, Tensor};

use super::HttpState;
use super::error::ApiError;
use super::json_data::DataView;
use crate::admin::authorize;

#[derive(serde::Deserialize)]
pub struct SampleQuery {
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct TensorJson<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: Vec<usize>,
    data: DataView<'a>,
}

#[derive(Serialize)]
struct RequestJson {
    rows: usize,
    unix_ms: u64,
}

#[derive(Serialize)]
struct PageJson<'a> {
    model_name: &'a str,
    model_version: String,
    cursor: u64,
    dropped: u64,
    rows: usize,
    sample_rate: f64,
    /// When each sampled request was served: its rows and a Unix time in ms.
    requests: Vec<RequestJson>,
    inputs: Vec<TensorJson<'a>>,
    outputs: Vec<TensorJson<'a>>,
}

pub async fn samples(
    State(state): State<Arc<HttpState>>,
    Path((model, version)): Path<(String, String)>,
    Query(query): Query<SampleQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    authorize(state.admin_token.as_deref(), given)?;
    let version = parse_version(&version)?.ok_or_else(|| InferError::invalid("a version is required"))?;
    let limit = page_limit(query.limit);
    let (page, rate) = state.inference.samples(&model, version, query.since, limit)?;
    let body = PageJson {
        model_name: &model,
        model_version: version.to_string(),
        cursor: page.cursor,
        dropped: page.dropped,
        rows: page.rows,
        sample_rate: rate,
        requests: page.requests.iter().map(|r| RequestJson { rows: r.rows, unix_ms: r.unix_ms }).collect(),
        inputs: page.inputs.iter().map(tensor_json).collect(),
        outputs: page.outputs.iter().map(tensor_json).collect(),
    };
    let json = serde_json::to_vec(&body).map_err(|e| InferError::Backend(format!("cannot encode samples: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

fn tensor_json(t: &Tensor) -> TensorJson<'_> {
    TensorJson {
        name: &t.name,
        datatype: t.datatype.as_str(),
        shape: t.shape.clone(),
        data: DataView { datatype: t.datatype, data: &t.data },
    }
}
