//! Checks a request against the model's metadata before it is queued, so the
//! backend only ever sees well-formed inputs.

use crate::error::InferError;
use crate::model::backend::{ModelMetadata, TensorSpec};
use crate::serving::request::RequestedOutput;
use crate::tensor::Tensor;

/// Limits applied to every request, configured on the command line.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_tensor_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_tensor_elements: crate::defaults::MAX_TENSOR_ELEMENTS }
    }
}

/// Inputs reordered to the model's order, and the request's row count.
pub struct CheckedInputs {
    pub inputs: Vec<Tensor>,
    pub rows: usize,
}

pub fn check_inputs(
    model: &str,
    metadata: &ModelMetadata,
    max_batch_size: usize,
    mut inputs: Vec<Tensor>,
    limits: Limits,
) -> Result<CheckedInputs, InferError> {
    let mut ordered = Vec::with_capacity(metadata.inputs.len());
    for spec in &metadata.inputs {
        let Some(at) = inputs.iter().position(|t| t.name == spec.name) else {
            return Err(InferError::invalid(format!(
                "missing input '{}' for model '{model}' (expects {})",
                spec.name,
                describe(&metadata.inputs)
            )));
        };
        let tensor = inputs.swap_remove(at);
        check_tensor(spec, &tensor, limits)?;
        ordered.push(tensor);
    }
    if let Some(extra) = inputs.first() {
        let duplicate = metadata.inputs.iter().any(|s| s.name == extra.name);
        return Err(InferError::invalid(if duplicate {
            format!("input '{}' is given more than once", extra.name)
        } else {
            format!("unexpected input '{}' for model '{model}' (expects {})", extra.name, describe(&metadata.inputs))
        }));
    }
    let rows = if max_batch_size > 0 { batch_rows(&ordered, max_batch_size)? } else { 1 };
    Ok(CheckedInputs { inputs: ordered, rows })
}

fn check_tensor(spec: &TensorSpec, tensor: &Tensor, limits: Limits) -> Result<(), InferError> {
    if tensor.datatype != spec.datatype {
        return Err(InferError::invalid(format!(
            "input '{}' has datatype {} but the model expects {}",
            spec.name, tensor.datatype, spec.datatype
        )));
    }
    let compatible = tensor.shape.len() == spec.shape.len()
        && spec.shape.iter().zip(&tensor.shape).all(|(&want, &got)| want < 0 || want as usize == got);
    if !compatible {
        return Err(InferError::invalid(format!(
            "input '{}' has shape {:?} but the model expects {:?} (-1 = any size)",
            spec.name, tensor.shape, spec.shape
        )));
    }
    tensor
        .check_data(limits.max_tensor_elements)
        .map_err(|e| InferError::invalid(format!("input '{}': {e}", spec.name)))
}

fn batch_rows(inputs: &[Tensor], max_batch_size: usize) -> Result<usize, InferError> {
    let Some(first) = inputs.first() else {
        return Ok(1);
    };
    let rows = first.rows();
    if let Some(other) = inputs.iter().find(|t| t.rows() != rows) {
        return Err(InferError::invalid(format!(
            "inputs disagree on the batch size: '{}' has {rows} rows, '{}' has {}",
            first.name,
            other.name,
            other.rows()
        )));
    }
    if rows == 0 || rows > max_batch_size {
        return Err(InferError::invalid(format!(
            "batch size {rows} is outside 1..={max_batch_size} (the model's max_batch_size)"
        )));
    }
    Ok(rows)
}

/// Indices into the model's outputs for what the client asked, in its order.
pub fn select_outputs(
    model: &str,
    metadata: &ModelMetadata,
    requested: &[RequestedOutput],
) -> Result<Vec<usize>, InferError> {
    if requested.is_empty() {
        return Ok((0..metadata.outputs.len()).collect());
    }
    if let Some((i, twice)) =
        requested.iter().enumerate().find(|(i, r)| requested[..*i].iter().any(|o| o.name == r.name))
    {
        return Err(InferError::invalid(format!(
            "output '{}' is requested more than once (again at position {i})",
            twice.name
        )));
    }
    requested
        .iter()
        .map(|r| {
            metadata.outputs.iter().position(|o| o.name == r.name).ok_or_else(|| {
                InferError::invalid(format!(
                    "unknown output '{}' for model '{model}' (has {})",
                    r.name,
                    describe(&metadata.outputs)
                ))
            })
        })
        .collect()
}

fn describe(specs: &[TensorSpec]) -> String {
    specs.iter().map(|s| format!("'{}' {} {:?}", s.name, s.datatype, s.shape)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::datatype::DataType;

    fn metadata() -> ModelMetadata {
        ModelMetadata {
            platform: "test".into(),
            inputs: vec![
                TensorSpec { name: "a".into(), datatype: DataType::Fp32, shape: vec![-1, 2] },
                TensorSpec { name: "b".into(), datatype: DataType::Int64, shape: vec![-1, 1] },
            ],
            outputs: vec![TensorSpec { name: "y".into(), datatype: DataType::Fp32, shape: vec![-1, 1] }],
        }
    }

    fn tensor(name: &str, dt: DataType, shape: Vec<usize>) -> Tensor {
        let bytes = shape.iter().product::<usize>() * dt.element_size().unwrap_or(4);
        Tensor::new(name, dt, shape, vec![0u8; bytes].into())
    }

    fn check(inputs: Vec<Tensor>) -> Result<CheckedInputs, InferError> {
        check_inputs("m", &metadata(), 8, inputs, Limits::default())
    }

    #[test]
    fn reorders_and_counts_rows() {
        let ok = check(vec![tensor("b", DataType::Int64, vec![3, 1]), tensor("a", DataType::Fp32, vec![3, 2])])
            .expect("valid");
        assert_eq!(ok.rows, 3);
        assert_eq!(ok.inputs[0].name, "a");
    }

    #[test]
    fn explains_each_mistake() {
        let cases: Vec<(Vec<Tensor>, &str)> = vec![
            (vec![tensor("a", DataType::Fp32, vec![1, 2])], "missing input 'b'"),
            (vec![tensor("a", DataType::Fp64, vec![1, 2]), tensor("b", DataType::Int64, vec![1, 1])], "datatype FP64"),
            (vec![tensor("a", DataType::Fp32, vec![1, 3]), tensor("b", DataType::Int64, vec![1, 1])], "shape [1, 3]"),
            (vec![tensor("a", DataType::Fp32, vec![2, 2]), tensor("b", DataType::Int64, vec![1, 1])], "disagree"),
            (vec![tensor("a", DataType::Fp32, vec![9, 2]), tensor("b", DataType::Int64, vec![9, 1])], "outside 1..=8"),
            (
                vec![
                    tensor("a", DataType::Fp32, vec![1, 2]),
                    tensor("b", DataType::Int64, vec![1, 1]),
                    tensor("c", DataType::Int64, vec![1, 1]),
                ],
                "unexpected input 'c'",
            ),
        ];
        for (inputs, expected) in cases {
            let err = check(inputs).err().expect("must fail");
            assert!(matches!(err, InferError::InvalidInput(_)));
            assert!(err.to_string().contains(expected), "{err} should mention {expected}");
        }
    }

    #[test]
    fn unknown_output_is_refused() {
        let asked = [RequestedOutput { name: "z".into(), parameters: Default::default() }];
        let err = select_outputs("m", &metadata(), &asked).expect_err("unknown");
        assert!(err.to_string().contains("unknown output 'z'"));
    }

    #[test]
    fn an_output_requested_twice_is_refused() {
        let metadata = metadata();
        let name = metadata.outputs[0].name.clone();
        let asked: Vec<RequestedOutput> =
            (0..2).map(|_| RequestedOutput { name: name.clone(), parameters: Default::default() }).collect();
        let err = select_outputs("m", &metadata, &asked).expect_err("duplicate");
        assert!(matches!(err, InferError::InvalidInput(_)));
        assert!(err.to_string().contains("requested more than once"), "{err}");
    }
}
