//! Between sluice tensors (little-endian bytes) and ONNX Runtime values.

use half::{bf16, f16};
use ort::session::Session;
use ort::value::{DynValue, Tensor as OrtTensor, TensorElementType, ValueType};
use sluice_core::tensor::{push_string, string_spans};
use sluice_core::{BackendError, DataType, ModelConfig, ModelMetadata, Tensor, TensorSpec};

fn datatype_of(ty: TensorElementType) -> Option<DataType> {
    Some(match ty {
        TensorElementType::Bool => DataType::Bool,
        TensorElementType::Uint8 => DataType::Uint8,
        TensorElementType::Uint16 => DataType::Uint16,
        TensorElementType::Uint32 => DataType::Uint32,
        TensorElementType::Uint64 => DataType::Uint64,
        TensorElementType::Int8 => DataType::Int8,
        TensorElementType::Int16 => DataType::Int16,
        TensorElementType::Int32 => DataType::Int32,
        TensorElementType::Int64 => DataType::Int64,
        TensorElementType::Float16 => DataType::Fp16,
        TensorElementType::Bfloat16 => DataType::Bf16,
        TensorElementType::Float32 => DataType::Fp32,
        TensorElementType::Float64 => DataType::Fp64,
        TensorElementType::String => DataType::Bytes,
        _ => return None,
    })
}

/// The element type ONNX Runtime stores `datatype` as; `None` for BYTES,
/// whose strings are not laid out as sluice holds them.
pub fn element_type_of(datatype: DataType) -> Option<TensorElementType> {
    Some(match datatype {
        DataType::Bool => TensorElementType::Bool,
        DataType::Uint8 => TensorElementType::Uint8,
        DataType::Uint16 => TensorElementType::Uint16,
        DataType::Uint32 => TensorElementType::Uint32,
        DataType::Uint64 => TensorElementType::Uint64,
        DataType::Int8 => TensorElementType::Int8,
        DataType::Int16 => TensorElementType::Int16,
        DataType::Int32 => TensorElementType::Int32,
        DataType::Int64 => TensorElementType::Int64,
        DataType::Fp16 => TensorElementType::Float16,
        DataType::Bf16 => TensorElementType::Bfloat16,
        DataType::Fp32 => TensorElementType::Float32,
        DataType::Fp64 => TensorElementType::Float64,
        DataType::Bytes => return None,
    })
}

fn spec_of(name: &str, value_type: &ValueType) -> Result<TensorSpec, String> {
    match value_type {
        ValueType::Tensor { ty, shape, .. } => {
            let datatype = datatype_of(*ty)
                .ok_or_else(|| format!("'{name}' has element type {ty:?}, which sluice does not serve"))?;
            Ok(TensorSpec {
                name: name.to_owned(),
                datatype,
                shape: shape.iter().map(|&d| if d < 0 { -1 } else { d }).collect(),
            })
        }
        other => Err(format!("'{name}' is a {other:?}; only tensors are supported")),
    }
}

/// Inputs and outputs as the session declares them (dynamic dims as -1).
pub fn session_metadata(session: &Session, config: &ModelConfig) -> Result<ModelMetadata, String> {
    let inputs = session.inputs().iter().map(|o| spec_of(o.name(), o.dtype())).collect::<Result<Vec<_>, _>>()?;
    let outputs = session.outputs().iter().map(|o| spec_of(o.name(), o.dtype())).collect::<Result<Vec<_>, _>>()?;
    for declared in config.inputs.iter().chain(&config.outputs) {
        let found = inputs.iter().chain(&outputs).find(|s| s.name == declared.name);
        match found {
            Some(actual) if actual.datatype == declared.datatype => {}
            Some(actual) => {
                return Err(format!(
                    "model.toml says '{}' is {}, the ONNX file says {}",
                    declared.name, declared.datatype, actual.datatype
                ));
            }
            None => return Err(format!("model.toml declares '{}', which the ONNX file lacks", declared.name)),
        }
    }
    Ok(ModelMetadata { platform: "onnxruntime_onnx".into(), inputs, outputs })
}

fn backend_err(name: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Tensor(format!("tensor '{name}': {e}"))
}

/// Copies a tensor's bytes into an ONNX Runtime value of the matching type.
pub fn to_value(t: &Tensor) -> Result<DynValue, BackendError> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    macro_rules! typed {
        ($n:literal, $conv:expr) => {{
            let values: Vec<_> = t.data.chunks_exact($n).map(|c| $conv(c.try_into().unwrap_or([0; $n]))).collect();
            OrtTensor::from_array((shape, values)).map(|v| v.into_dyn())
        }};
    }
    let value = match t.datatype {
        DataType::Bool => {
            OrtTensor::from_array((shape, t.data.iter().map(|&b| b != 0).collect::<Vec<bool>>())).map(|v| v.into_dyn())
        }
        DataType::Uint8 => OrtTensor::from_array((shape, t.data.to_vec())).map(|v| v.into_dyn()),
        DataType::Int8 => typed!(1, i8::from_le_bytes),
        DataType::Uint16 => typed!(2, u16::from_le_bytes),
        DataType::Int16 => typed!(2, i16::from_le_bytes),
        DataType::Uint32 => typed!(4, u32::from_le_bytes),
        DataType::Int32 => typed!(4, i32::from_le_bytes),
        DataType::Uint64 => typed!(8, u64::from_le_bytes),
        DataType::Int64 => typed!(8, i64::from_le_bytes),
        DataType::Fp16 => typed!(2, f16::from_le_bytes),
        DataType::Bf16 => typed!(2, bf16::from_le_bytes),
        DataType::Fp32 => typed!(4, f32::from_le_bytes),
        DataType::Fp64 => typed!(8, f64::from_le_bytes),
        DataType::Bytes => {
            let spans = string_spans(&t.data).map_err(|e| backend_err(&t.name, e))?;
            let strings = spans
                .into_iter()
                .map(|(a, b)| String::from_utf8(t.data[a..b].to_vec()))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|_| backend_err(&t.name, "ONNX string tensors must be valid UTF-8"))?;
            OrtTensor::from_string_array((shape, strings.as_slice())).map(|v| v.into_dyn())
        }
    };
    value.map_err(|e| backend_err(&t.name, e))
}

/// The outputs `specs` names, in their order, copied out of a run's results.
pub fn outputs_of(
    results: &ort::session::SessionOutputs<'_>,
    specs: &[TensorSpec],
) -> Result<Vec<Tensor>, BackendError> {
    specs
        .iter()
        .map(|spec| {
            let value = results
                .get(&spec.name)
                .ok_or_else(|| BackendError::Run(format!("ONNX Runtime returned no output '{}'", spec.name)))?;
            from_value(&spec.name, spec.datatype, value)
        })
        .collect()
}

/// Copies an ONNX Runtime output into a sluice tensor of `datatype`.
pub fn from_value(name: &str, datatype: DataType, value: &DynValue) -> Result<Tensor, BackendError> {
    macro_rules! typed {
        ($t:ty) => {{
            let (shape, values) = value.try_extract_tensor::<$t>().map_err(|e| backend_err(name, e))?;
            let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (shape.to_vec(), data)
        }};
    }
    let (shape, data) = match datatype {
        DataType::Bool => {
            let (shape, values) = value.try_extract_tensor::<bool>().map_err(|e| backend_err(name, e))?;
            (shape.to_vec(), values.iter().map(|&b| b as u8).collect())
        }
        DataType::Uint8 => typed!(u8),
        DataType::Int8 => typed!(i8),
        DataType::Uint16 => typed!(u16),
        DataType::Int16 => typed!(i16),
        DataType::Uint32 => typed!(u32),
        DataType::Int32 => typed!(i32),
        DataType::Uint64 => typed!(u64),
        DataType::Int64 => typed!(i64),
        DataType::Fp16 => typed!(f16),
        DataType::Bf16 => typed!(bf16),
        DataType::Fp32 => typed!(f32),
        DataType::Fp64 => typed!(f64),
        DataType::Bytes => {
            let (shape, strings) = value.try_extract_strings().map_err(|e| backend_err(name, e))?;
            let mut data = Vec::new();
            for s in &strings {
                push_string(&mut data, s.as_bytes());
            }
            (shape.to_vec(), data)
        }
    };
    let shape = shape.iter().map(|&d| d.max(0) as usize).collect();
    Ok(Tensor::new(name, datatype, shape, data.into()))
}
