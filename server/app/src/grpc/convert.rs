//! gRPC messages <-> core requests and responses.

use std::collections::HashMap;

use bytes::Bytes;
use sluice_core::metrics::stats::{CountedDuration, StatsSnapshot};
use sluice_core::serving::request::parse_version;
use sluice_core::tensor::elements::{ElementError, ElementWriter};
use sluice_core::tensor::{concrete_shape, element_count};
use sluice_core::{
    DataType, InferError, InferRequest, InferResponse, ModelInfo, ParamValue, Parameters, RequestedOutput, Tensor,
};
use sluice_proto::infer_parameter::ParameterChoice;
use sluice_proto::model_infer_request::InferInputTensor;
use sluice_proto::model_infer_response::InferOutputTensor;
use sluice_proto::model_metadata_response::TensorMetadata;
use sluice_proto::{
    InferBatchStatistics, InferParameter, InferStatistics, InferTensorContents, ModelInferRequest, ModelInferResponse,
    ModelMetadataResponse, ModelStatistics, ModelStatisticsResponse, StatisticDuration,
};

pub fn parameters(map: HashMap<String, InferParameter>) -> Parameters {
    map.into_iter()
        .filter_map(|(k, p)| {
            let value = match p.parameter_choice? {
                ParameterChoice::BoolParam(b) => ParamValue::Bool(b),
                ParameterChoice::Int64Param(i) => ParamValue::Int(i),
                ParameterChoice::StringParam(s) => ParamValue::Str(s),
                ParameterChoice::DoubleParam(d) => ParamValue::Double(d),
                ParameterChoice::Uint64Param(u) => ParamValue::Uint(u),
            };
            Some((k, value))
        })
        .collect()
}

/// Decodes a whole request, its version field included.
pub fn request(message: ModelInferRequest, max_elements: usize) -> Result<InferRequest, InferError> {
    let version = parse_version(&message.model_version)?;
    request_for_version(message, version, max_elements)
}

/// Decodes a request whose version field the caller has already parsed.
pub fn request_for_version(
    message: ModelInferRequest,
    model_version: Option<u64>,
    max_elements: usize,
) -> Result<InferRequest, InferError> {
    let raw = message.raw_input_contents;
    if !raw.is_empty() && raw.len() != message.inputs.len() {
        return Err(InferError::invalid(format!(
            "raw_input_contents has {} entries for {} inputs; send one per input, in order",
            raw.len(),
            message.inputs.len()
        )));
    }
    let mut raw = raw.into_iter();
    let inputs = message
        .inputs
        .into_iter()
        .map(|input| tensor(input, raw.next(), max_elements))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = message
        .outputs
        .into_iter()
        .map(|o| RequestedOutput { name: o.name, parameters: parameters(o.parameters) })
        .collect();
    Ok(InferRequest {
        model_name: message.model_name,
        model_version,
        id: Some(message.id).filter(|id| !id.is_empty()),
        parameters: parameters(message.parameters),
        inputs,
        outputs,
        timeout: None,
    })
}

fn tensor(input: InferInputTensor, raw: Option<Bytes>, max_elements: usize) -> Result<Tensor, InferError> {
    let name = input.name;
    let bad = |e: &dyn std::fmt::Display| InferError::invalid(format!("input '{name}': {e}"));
    let datatype: DataType = input.datatype.parse().map_err(|e| bad(&e))?;
    let shape = concrete_shape(&input.shape).map_err(|e| bad(&e))?;
    let elements = element_count(&shape, max_elements).map_err(|e| bad(&e))?;
    let data = match (raw, input.contents) {
        (Some(raw), _) => raw,
        (None, Some(contents)) => {
            let (data, count) = typed_contents(datatype, contents).map_err(|e| bad(&e))?;
            if count != elements {
                return Err(bad(&format!("contents hold {count} values but shape {shape:?} needs {elements}")));
            }
            data
        }
        (None, None) => return Err(bad(&"no contents and no raw_input_contents")),
    };
    Ok(Tensor::new(name, datatype, shape, data))
}

/// Reads the typed field that matches `datatype`, as the protocol requires.
fn typed_contents(datatype: DataType, c: InferTensorContents) -> Result<(Bytes, usize), String> {
    fn write<T: Copy>(
        datatype: DataType,
        values: &[T],
        push: impl Fn(&mut ElementWriter, T) -> Result<(), ElementError>,
    ) -> Result<(Bytes, usize), String> {
        let mut w = ElementWriter::new(datatype, values.len());
        for &v in values {
            push(&mut w, v).map_err(|e| e.to_string())?;
        }
        let n = w.count();
        Ok((w.finish(), n))
    }
    match datatype {
        DataType::Bool => write(datatype, &c.bool_contents, ElementWriter::push_bool),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => {
            write(datatype, &c.int_contents, |w, v| w.push_i64(v as i64))
        }
        DataType::Int64 => write(datatype, &c.int64_contents, ElementWriter::push_i64),
        DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => {
            write(datatype, &c.uint_contents, |w, v| w.push_u64(v as u64))
        }
        DataType::Uint64 => write(datatype, &c.uint64_contents, ElementWriter::push_u64),
        DataType::Fp32 => write(datatype, &c.fp32_contents, ElementWriter::push_f32),
        DataType::Fp64 => write(datatype, &c.fp64_contents, ElementWriter::push_f64),
        DataType::Bytes => {
            let mut w = ElementWriter::new(datatype, c.bytes_contents.len());
            for v in &c.bytes_contents {
                w.push_bytes(v).map_err(|e| e.to_string())?;
            }
            let n = w.count();
            Ok((w.finish(), n))
        }
        DataType::Fp16 | DataType::Bf16 => {
            Err(format!("{datatype} has no typed contents field; send raw_input_contents"))
        }
    }
}

/// Outputs always travel as `raw_output_contents`, which every client reads.
pub fn response(response: InferResponse) -> ModelInferResponse {
    let (outputs, raw) = raw_tensors(response.outputs);
    ModelInferResponse {
        model_name: response.model_name,
        model_version: response.model_version.to_string(),
        id: response.id.unwrap_or_default(),
        parameters: HashMap::new(),
        outputs,
        raw_output_contents: raw,
    }
}

/// Tensors as output descriptions plus their raw contents, in order.
pub fn raw_tensors(tensors: Vec<Tensor>) -> (Vec<InferOutputTensor>, Vec<Bytes>) {
    tensors
        .into_iter()
        .map(|t| {
            let description = InferOutputTensor {
                name: t.name,
                datatype: t.datatype.as_str().to_owned(),
                shape: t.shape.iter().map(|&d| d as i64).collect(),
                parameters: HashMap::new(),
                contents: None,
            };
            (description, t.data)
        })
        .unzip()
}

pub fn metadata(info: ModelInfo) -> ModelMetadataResponse {
    let tensors = |specs: Vec<sluice_core::TensorSpec>| {
        specs
            .into_iter()
            .map(|s| TensorMetadata { name: s.name, datatype: s.datatype.as_str().to_owned(), shape: s.shape })
            .collect()
    };
    ModelMetadataResponse {
        name: info.name,
        versions: info.versions.iter().map(u64::to_string).collect(),
        platform: info.platform,
        inputs: tensors(info.inputs),
        outputs: tensors(info.outputs),
    }
}

fn duration(d: CountedDuration) -> Option<StatisticDuration> {
    Some(StatisticDuration { count: d.count, ns: d.ns })
}

pub fn statistics(snapshots: Vec<StatsSnapshot>) -> ModelStatisticsResponse {
    let model_stats = snapshots
        .into_iter()
        .map(|s| ModelStatistics {
            name: s.name,
            version: s.version.to_string(),
            last_inference: s.last_inference_ms,
            inference_count: s.inference_count,
            execution_count: s.execution_count,
            inference_stats: Some(InferStatistics {
                success: duration(s.success),
                fail: duration(s.fail),
                queue: duration(s.queue),
                compute_input: duration(s.compute_input),
                compute_infer: duration(s.compute_infer),
                compute_output: duration(s.compute_output),
                cache_hit: duration(CountedDuration::default()),
                cache_miss: duration(CountedDuration::default()),
            }),
            batch_stats: s
                .batches
                .into_iter()
                .map(|b| InferBatchStatistics {
                    batch_size: b.batch_size as u64,
                    compute_input: duration(b.compute_input),
                    compute_infer: duration(b.compute_infer),
                    compute_output: duration(b.compute_output),
                })
                .collect(),
        })
        .collect();
    ModelStatisticsResponse { model_stats }
}
