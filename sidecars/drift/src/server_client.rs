//! What the sidecar asks the inference server: which versions of the model
//! are served, and the sampled rows after a cursor.

use std::time::Duration;

use serde_json::Value;

use crate::server_tls::ServerTlsArgs;

pub struct ServerClient {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

/// One page of samples: feature rows (row-major), predictions, the next cursor.
pub struct SamplePage {
    pub rows: usize,
    pub width: usize,
    pub values: Vec<f64>,
    pub predictions: Option<Vec<f64>>,
    /// When each row was served (Unix ms), when the server says.
    pub served_ms: Vec<u64>,
    pub cursor: u64,
    pub dropped: u64,
}

impl ServerClient {
    pub fn new(endpoint: &str, token: Option<String>, tls: &ServerTlsArgs) -> Result<Self, String> {
        let base = if endpoint.contains("://") { endpoint.to_string() } else { format!("http://{endpoint}") };
        let builder =
            reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(30));
        let (builder, base) = tls.apply(builder, base.trim_end_matches('/'))?;
        let client = builder.build().map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(ServerClient { base, token, client })
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response =
            request.send().await.map_err(|e| format!("cannot reach the model server at {}: {e}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{}{path} answered {status}: {}", self.base, body["error"].as_str().unwrap_or("")));
        }
        Ok(body)
    }

    /// The newest version of `model` the server has loaded.
    pub async fn served_version(&self, model: &str) -> Result<u64, String> {
        let metadata = self.get(&format!("/v2/models/{model}")).await?;
        metadata["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().and_then(|s| s.parse::<u64>().ok()))
            .max()
            .ok_or_else(|| format!("the server lists no versions of '{model}'"))
    }

    /// Sampled rows of `input` after `since`; the prediction is the last
    /// column of the first output (the fraud probability for [n, 2]).
    pub async fn samples(&self, model: &str, version: u64, since: u64, input: &str) -> Result<SamplePage, String> {
        let page =
            self.get(&format!("/v2/models/{model}/versions/{version}/samples?since={since}&limit=10000")).await?;
        let rows = page["rows"].as_u64().unwrap_or(0) as usize;
        let cursor = page["cursor"].as_u64().ok_or("the samples answer has no cursor")?;
        let dropped = page["dropped"].as_u64().unwrap_or(0);
        if rows == 0 {
            return Ok(SamplePage {
                rows,
                width: 0,
                values: Vec::new(),
                predictions: None,
                served_ms: Vec::new(),
                cursor,
                dropped,
            });
        }
        let inputs = page["inputs"].as_array().ok_or("the samples answer has no inputs")?;
        let tensor = inputs
            .iter()
            .find(|t| t["name"] == input)
            .ok_or_else(|| format!("the samples have no input named '{input}'"))?;
        let shape: Vec<usize> =
            tensor["shape"].as_array().into_iter().flatten().filter_map(|d| d.as_u64()).map(|d| d as usize).collect();
        let width = shape.iter().skip(1).product::<usize>();
        let values = numbers(&tensor["data"]);
        if values.len() != rows * width {
            return Err(format!("samples of '{input}' hold {} values for {rows} rows of {width}", values.len()));
        }
        let predictions = page["outputs"].as_array().and_then(|o| o.first()).and_then(|out| {
            let data = numbers(&out["data"]);
            let per_row = data.len() / rows.max(1);
            (per_row > 0 && data.len() == per_row * rows)
                .then(|| data.chunks(per_row).map(|r| r[per_row - 1]).collect())
        });
        let served_ms: Vec<u64> = page["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| {
                std::iter::repeat_n(r["unix_ms"].as_u64().unwrap_or(0), r["rows"].as_u64().unwrap_or(0) as usize)
            })
            .collect();
        Ok(SamplePage { rows, width, values, predictions, served_ms, cursor, dropped })
    }
}

/// Numbers of a v2 JSON tensor (flat, or nested by row); a non-number is NaN
/// (and the row is then left out as non-finite).
fn numbers(data: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            other => out.push(other.as_f64().unwrap_or(f64::NAN)),
        }
    }
    walk(data, &mut out);
    out
}
