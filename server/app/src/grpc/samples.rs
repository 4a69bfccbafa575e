//! `ModelSamples`: the gRPC twin of `GET .../samples` (see http/samples.rs),
//! columns as raw contents like a ModelInfer response's outputs.

use sluice_core::serving::sample_rows::SampledRows;
use sluice_proto::ModelSamplesResponse;
use sluice_proto::model_samples_response::SampledRequest;

use super::convert::raw_tensors;

pub fn response(model: String, version: u64, rows: SampledRows, sample_rate: f64) -> ModelSamplesResponse {
    let (inputs, raw_input_contents) = raw_tensors(rows.inputs);
    let (outputs, raw_output_contents) = raw_tensors(rows.outputs);
    ModelSamplesResponse {
        model_name: model,
        model_version: version.to_string(),
        cursor: rows.cursor,
        dropped: rows.dropped,
        rows: rows.rows as u64,
        sample_rate,
        requests: rows.requests.iter().map(|r| SampledRequest { rows: r.rows as u64, unix_ms: r.unix_ms }).collect(),
        inputs,
        outputs,
        raw_input_contents,
        raw_output_contents,
    }
}
