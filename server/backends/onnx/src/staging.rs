//! Copying a sluice tensor into a tensor ONNX Runtime allocated (pinned host
//! memory for CUDA, ordinary memory on the CPU): the one host-side copy of
//! an input per batch when inputs are bound.

use ort::memory::Allocator;
use ort::value::{DynTensor, DynValue};
use sluice_core::{BackendError, DataType, Tensor};

use crate::convert;

/// A staged input: a tensor in staging memory, or (strings, which ONNX
/// Runtime keeps on the host in any case) an ordinary value.
pub enum Staged {
    Tensor(DynTensor),
    Strings(DynValue),
}

/// The one copy of an input into memory `staging` allocates.
pub fn stage(staging: &Allocator, tensor: &Tensor) -> Result<Staged, BackendError> {
    let (Some(size), Some(element)) = (tensor.datatype.element_size(), convert::element_type_of(tensor.datatype))
    else {
        return convert::to_value(tensor).map(Staged::Strings);
    };
    let elements: usize = tensor.shape.iter().product();
    if tensor.data.len() != elements * size {
        return Err(BackendError::Tensor(format!(
            "tensor '{}': {} bytes for shape {:?} of {}",
            tensor.name,
            tensor.data.len(),
            tensor.shape,
            tensor.datatype
        )));
    }
    let mut staged = DynTensor::new(staging, element, tensor.shape.as_slice())
        .map_err(|e| BackendError::Run(format!("cannot allocate the staging tensor for '{}': {e}", tensor.name)))?;
    fill(&mut staged, tensor).map_err(|e| BackendError::Tensor(format!("tensor '{}': {e}", tensor.name)))?;
    Ok(Staged::Tensor(staged))
}

/// Writes a sluice tensor's little-endian bytes into an ONNX Runtime tensor
/// of the same element type and shape, in place.
fn fill(target: &mut DynTensor, tensor: &Tensor) -> ort::Result<()> {
    macro_rules! copy {
        ($t:ty, $n:literal) => {{
            let (_, dst) = target.try_extract_tensor_mut::<$t>()?;
            for (d, c) in dst.iter_mut().zip(tensor.data.chunks_exact($n)) {
                *d = <$t>::from_le_bytes(c.try_into().unwrap_or([0; $n]));
            }
        }};
    }
    match tensor.datatype {
        DataType::Bool => {
            let (_, dst) = target.try_extract_tensor_mut::<bool>()?;
            for (d, &b) in dst.iter_mut().zip(tensor.data.iter()) {
                *d = b != 0;
            }
        }
        DataType::Uint8 => target.try_extract_tensor_mut::<u8>()?.1.copy_from_slice(&tensor.data),
        DataType::Int8 => copy!(i8, 1),
        DataType::Uint16 => copy!(u16, 2),
        DataType::Int16 => copy!(i16, 2),
        DataType::Uint32 => copy!(u32, 4),
        DataType::Int32 => copy!(i32, 4),
        DataType::Uint64 => copy!(u64, 8),
        DataType::Int64 => copy!(i64, 8),
        DataType::Fp16 => copy!(half::f16, 2),
        DataType::Bf16 => copy!(half::bf16, 2),
        DataType::Fp32 => copy!(f32, 4),
        DataType::Fp64 => copy!(f64, 8),
        DataType::Bytes => {}
    }
    Ok(())
}
