//! The request bodies the load generator sends: deterministic features.

use bytes::Bytes;
use serde_json::json;

pub fn features(rows: usize) -> Vec<f32> {
    (0..rows * 30).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect()
}

pub fn rest_json(rows: usize) -> Bytes {
    let body =
        json!({ "inputs": [{ "name": "features", "shape": [rows, 30], "datatype": "FP32", "data": features(rows) }] });
    Bytes::from(body.to_string())
}

/// KServe v1 / TF Serving row format: one nested row per instance.
pub fn v1_json(rows: usize) -> Bytes {
    let x = features(rows);
    let instances: Vec<&[f32]> = x.chunks(30).collect();
    Bytes::from(json!({ "instances": instances }).to_string())
}

/// Returns the body and the JSON header's length.
pub fn rest_binary(rows: usize) -> (Bytes, usize) {
    let x = features(rows);
    let header = json!({
        "inputs": [{ "name": "features", "shape": [rows, 30], "datatype": "FP32",
                     "parameters": { "binary_data_size": x.len() * 4 } }],
        "outputs": [{ "name": "probabilities", "parameters": { "binary_data": true } }]
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend(x.iter().flat_map(|v| v.to_le_bytes()));
    (Bytes::from(body), header.len())
}

pub fn raw_features(rows: usize) -> Bytes {
    Bytes::from(features(rows).iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
}
