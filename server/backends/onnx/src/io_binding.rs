//! IO binding: each input of a batch is copied once into memory ONNX
//! Runtime allocated where the execution provider reads it fastest — pinned
//! host memory for CUDA, so the host-to-device transfer is one DMA per
//! tensor and batch, not a pageable copy staged by the driver — and outputs
//! come back into the same kind of memory, from which the reply is read.
//!
//! With `cuda_graph` the inputs and outputs are *resident*: allocated once on
//! the device and bound once, because a captured CUDA graph replays with the
//! addresses it was captured with. Each batch is then copied from staging
//! into the resident inputs, and the outputs out of the resident ones.
//!
//! The code is the same on every device; only the memory differs. CPU
//! instances take the staged path when `io_binding = true`, and the tests
//! run the resident path on the CPU too, so both run on machines without a GPU.

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::{DynTensor, DynValue};
use sluice_core::{BackendError, Batch, Device, ModelMetadata, Tensor, TensorSpec};

use crate::convert;
use crate::staging::{Staged, stage};

pub struct BoundRun {
    binding: IoBinding,
    /// Allocates the staging tensors inputs are copied into.
    staging: Allocator,
    /// Where outputs are read from: ONNX Runtime writes them there (staged),
    /// or they are copied there from the resident outputs.
    readable: MemoryInfo<'static>,
    /// Set for resident inputs and outputs (CUDA graphs).
    resident: Option<Resident>,
}

/// Inputs and outputs at fixed device addresses, bound once.
struct Resident {
    inputs: Vec<(String, DynTensor)>,
    outputs: Vec<(TensorSpec, DynTensor)>,
}

/// Pinned memory is host memory: ONNX Runtime registers it as device 0
/// whichever GPU the session runs on.
const PINNED_ID: i32 = 0;

fn memory(device: AllocationDevice, id: i32, kind: MemoryType) -> ort::Result<MemoryInfo<'static>> {
    MemoryInfo::new(device, id, AllocatorType::Device, kind)
}

fn failed(e: ort::Error) -> BackendError {
    BackendError::Run(format!("ONNX Runtime (IO binding) failed: {e}"))
}

impl BoundRun {
    /// Staged binding for `device`; resident inputs and outputs when
    /// `resident` (every tensor of `metadata` must have a fixed shape).
    pub fn new(session: &Session, device: Device, metadata: &ModelMetadata, resident: bool) -> Result<Self, String> {
        let setup = |e: ort::Error| format!("cannot set up IO binding: {e}");
        let (staging, readable, device_memory) = match device {
            Device::Cpu => (
                memory(AllocationDevice::CPU, 0, MemoryType::Default),
                memory(AllocationDevice::CPU, 0, MemoryType::Default),
                memory(AllocationDevice::CPU, 0, MemoryType::Default),
            ),
            Device::Cuda(n) => (
                memory(AllocationDevice::CUDA_PINNED, PINNED_ID, MemoryType::CPUInput),
                memory(AllocationDevice::CUDA_PINNED, PINNED_ID, MemoryType::CPUOutput),
                memory(AllocationDevice::CUDA, n as i32, MemoryType::Default),
            ),
        };
        let mut binding = session.create_binding().map_err(setup)?;
        let staging = Allocator::new(session, staging.map_err(setup)?).map_err(setup)?;
        let resident = match resident {
            false => None,
            true => {
                let allocator = Allocator::new(session, device_memory.map_err(setup)?).map_err(setup)?;
                Some(Resident::bind(&mut binding, &allocator, metadata)?)
            }
        };
        Ok(BoundRun { binding, staging, readable: readable.map_err(setup)?, resident })
    }

    /// Runs one batch through the bound session; outputs in `outputs`' order.
    pub fn run(
        &mut self,
        session: &mut Session,
        batch: &Batch,
        outputs: &[TensorSpec],
    ) -> Result<Vec<Tensor>, BackendError> {
        match &mut self.resident {
            Some(resident) => resident.run(session, &self.binding, &self.staging, &self.readable, batch),
            None => self.run_staged(session, batch, outputs),
        }
    }

    fn run_staged(
        &mut self,
        session: &mut Session,
        batch: &Batch,
        outputs: &[TensorSpec],
    ) -> Result<Vec<Tensor>, BackendError> {
        // Outputs are rebound every run: a bound output keeps the previous
        // run's value, which ONNX Runtime would refuse to reuse for another
        // batch size.
        self.binding.clear();
        for tensor in &batch.inputs {
            match stage(&self.staging, tensor)? {
                Staged::Tensor(staged) => self.binding.bind_input(tensor.name.as_str(), &staged),
                Staged::Strings(value) => self.binding.bind_input(tensor.name.as_str(), &value),
            }
            .map_err(failed)?;
        }
        for spec in outputs {
            self.binding.bind_output_to_device(spec.name.as_str(), &self.readable).map_err(failed)?;
        }
        let results = session.run_binding(&self.binding).map_err(failed)?;
        convert::outputs_of(&results, outputs)
    }
}

impl Resident {
    fn bind(binding: &mut IoBinding, device: &Allocator, metadata: &ModelMetadata) -> Result<Resident, String> {
        let allocate = |spec: &TensorSpec| -> Result<DynTensor, String> {
            let element = convert::element_type_of(spec.datatype)
                .ok_or_else(|| format!("cuda_graph needs numeric tensors; '{}' is {}", spec.name, spec.datatype))?;
            if spec.shape.iter().any(|&d| d < 1) {
                return Err(format!(
                    "cuda_graph replays one shape, so every tensor needs a fixed shape; '{}' has {:?}",
                    spec.name, spec.shape
                ));
            }
            DynTensor::new(device, element, spec.shape.clone())
                .map_err(|e| format!("cannot allocate '{}' on the device: {e}", spec.name))
        };
        let bind_failed = |e: ort::Error| format!("cannot bind the resident tensors: {e}");
        let mut resident = Resident { inputs: Vec::new(), outputs: Vec::new() };
        for spec in &metadata.inputs {
            let tensor = allocate(spec)?;
            binding.bind_input(spec.name.as_str(), &tensor).map_err(bind_failed)?;
            resident.inputs.push((spec.name.clone(), tensor));
        }
        for spec in &metadata.outputs {
            let mut tensor = allocate(spec)?;
            binding.bind_output(spec.name.as_str(), &mut tensor).map_err(bind_failed)?;
            resident.outputs.push((spec.clone(), tensor));
        }
        Ok(resident)
    }

    fn run(
        &mut self,
        session: &mut Session,
        binding: &IoBinding,
        staging: &Allocator,
        readable: &MemoryInfo<'static>,
        batch: &Batch,
    ) -> Result<Vec<Tensor>, BackendError> {
        for tensor in &batch.inputs {
            let (_, target) = self
                .inputs
                .iter_mut()
                .find(|(name, _)| *name == tensor.name)
                .ok_or_else(|| BackendError::Tensor(format!("the model has no input '{}'", tensor.name)))?;
            let fixed = target.shape().to_vec();
            if tensor.shape.iter().map(|&d| d as i64).ne(fixed.iter().copied()) {
                return Err(BackendError::Tensor(format!(
                    "tensor '{}': this instance replays a CUDA graph captured for shape {fixed:?}, not {:?}",
                    tensor.name, tensor.shape
                )));
            }
            let Staged::Tensor(staged) = stage(staging, tensor)? else {
                return Err(BackendError::Tensor(format!("tensor '{}': strings cannot be resident", tensor.name)));
            };
            staged.copy_into(&mut *target).map_err(failed)?;
        }
        session.run_binding(binding).map_err(failed)?;
        self.outputs
            .iter()
            .map(|(spec, resident)| {
                let host: DynValue =
                    resident.to(readable.allocation_device(), readable.device_id()).map_err(failed)?.into_dyn();
                convert::from_value(&spec.name, spec.datatype, &host)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ort::session::Session;
    use sluice_core::{Batch, DataType, Device, ModelConfig, Tensor};

    use super::BoundRun;
    use crate::{OnnxLoader, convert, find_onnxruntime};

    fn testdata(path: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..").join(path)
    }

    fn open(model: &str) -> (Session, sluice_core::ModelMetadata) {
        let loader = OnnxLoader::new(find_onnxruntime(None), 1);
        let environment = loader.runtime.as_ref().expect("onnxruntime: run `make setup`");
        let session =
            Session::builder(environment).and_then(|mut b| b.commit_from_file(testdata(model))).expect("loads");
        let config = ModelConfig::from_toml("backend = \"onnx\"", "m").expect("valid");
        let metadata = convert::session_metadata(&session, &config).expect("metadata");
        (session, metadata)
    }

    fn static_batch(seed: i64) -> Batch {
        let x: Vec<u8> = (0..6).flat_map(|i| (seed as f32 * 0.5 - i as f32).to_le_bytes()).collect();
        let k: Vec<u8> = (0..4).flat_map(|i| (seed * 1_000_000_007 + i).to_le_bytes()).collect();
        Batch {
            inputs: vec![
                Tensor::new("x", DataType::Fp32, vec![2, 3], x.into()),
                Tensor::new("k", DataType::Int64, vec![4], k.into()),
            ],
        }
    }

    /// The same batch through `Session::run`, no binding.
    fn plain(session: &mut Session, batch: &Batch, metadata: &sluice_core::ModelMetadata) -> Vec<Tensor> {
        let inputs: Vec<_> =
            batch.inputs.iter().map(|t| (t.name.as_str(), convert::to_value(t).expect("value"))).collect();
        let outputs = session.run(inputs).expect("runs");
        metadata
            .outputs
            .iter()
            .map(|s| convert::from_value(&s.name, s.datatype, &outputs[s.name.as_str()]).expect("out"))
            .collect()
    }

    #[test]
    fn resident_inputs_and_outputs_answer_like_a_plain_run_batch_after_batch() {
        let (mut session, metadata) = open("testdata/static-shape/1/model.onnx");
        let mut bound = BoundRun::new(&session, Device::Cpu, &metadata, true).expect("binds");
        for seed in [3, -7, 11] {
            let batch = static_batch(seed);
            let got = bound.run(&mut session, &batch, &metadata.outputs).expect("bound run");
            let want = plain(&mut session, &batch, &metadata);
            assert_eq!(got.len(), 2);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!((&g.name, &g.shape, &g.data), (&w.name, &w.shape, &w.data), "seed {seed}");
            }
            // y = x + x, m = k * k (wrapping, as ONNX Runtime's int64 Mul).
            let y: Vec<f32> =
                got[0].data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
            assert_eq!(y[1], 2.0 * (seed as f32 * 0.5 - 1.0));
            let m = i64::from_le_bytes(got[1].data[8..16].try_into().expect("8 bytes"));
            let k = seed * 1_000_000_007 + 1;
            assert_eq!(m, k.wrapping_mul(k));
        }
    }

    #[test]
    fn resident_binding_refuses_other_shapes_and_dynamic_models() {
        let (mut session, metadata) = open("testdata/static-shape/1/model.onnx");
        let mut bound = BoundRun::new(&session, Device::Cpu, &metadata, true).expect("binds");
        let mut batch = static_batch(1);
        batch.inputs[0] = Tensor::new("x", DataType::Fp32, vec![1, 3], vec![0; 12].into());
        let refused = bound.run(&mut session, &batch, &metadata.outputs).expect_err("another shape");
        assert!(refused.to_string().contains("captured for shape [2, 3]"), "{refused}");
        // The refusal left the binding usable.
        assert!(bound.run(&mut session, &static_batch(2), &metadata.outputs).is_ok());

        let (session, metadata) = open("models/fraud-detection/2/model.onnx");
        let why = BoundRun::new(&session, Device::Cpu, &metadata, true).err().expect("dynamic batch dimension");
        assert!(why.contains("fixed shape") && why.contains("features"), "{why}");
        assert!(BoundRun::new(&session, Device::Cpu, &metadata, false).is_ok(), "staged binding takes any shape");
    }
}
