//! ONNX Runtime backend. The runtime library is loaded at run time
//! (`load-dynamic`), so the binary builds and starts without it; ONNX models
//! then fail to load with a message saying how to install it.

mod convert;
mod execution;
mod io_binding;
mod locate;
mod options;
mod staging;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use sluice_core::model::repository::ONNX_FILE;
use sluice_core::{Backend, BackendError, BackendKind, BackendLoader, Batch, BatchOutput, LoadRequest, ModelMetadata};

use crate::io_binding::BoundRun;
use crate::options::OnnxOptions;

pub use locate::find_onnxruntime;

/// Creates ONNX Runtime sessions from `model.onnx` files.
pub struct OnnxLoader {
    runtime: Result<Environment, String>,
    default_intra_op_threads: usize,
}

impl OnnxLoader {
    /// Loads the runtime library from `library` (or reports why it cannot).
    /// Only one runtime can be loaded per process.
    pub fn new(library: Option<PathBuf>, default_intra_op_threads: usize) -> Self {
        // ONNX Runtime allows one library and one environment per process;
        // every loader after the first shares them.
        static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();
        let runtime = RUNTIME
            .get_or_init(|| match library {
                None => Err(missing_runtime_help(None)),
                Some(path) => init_runtime(&path),
            })
            .clone();
        if let Err(why) = &runtime {
            tracing::warn!("ONNX models cannot load: {why}");
        }
        OnnxLoader { runtime, default_intra_op_threads }
    }

    /// Whether the runtime library loaded.
    pub fn is_available(&self) -> bool {
        self.runtime.is_ok()
    }
}

fn init_runtime(path: &Path) -> Result<Environment, String> {
    let builder = ort::init_from(path).map_err(|e| missing_runtime_help(Some((path, e.to_string()))))?;
    let environment = builder
        .with_name("sluice")
        .build()
        .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))?;
    tracing::info!(library = %path.display(), "ONNX Runtime loaded");
    Ok(environment)
}

fn missing_runtime_help(failure: Option<(&Path, String)>) -> String {
    let what = match failure {
        Some((path, why)) => format!("cannot load the ONNX Runtime library {}: {why}", path.display()),
        None => "the ONNX Runtime library (libonnxruntime.so) was not found".to_owned(),
    };
    format!(
        "{what}. Run `make setup` (installs onnxruntime 1.31 into .venv), or point --onnxruntime-lib / ORT_DYLIB_PATH at libonnxruntime.so"
    )
}

impl BackendLoader for OnnxLoader {
    fn kind(&self) -> BackendKind {
        BackendKind::Onnx
    }

    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn Backend>, BackendError> {
        let environment = self.runtime.as_ref().map_err(|e| BackendError::Load(e.clone()))?;
        let options = OnnxOptions::parse(request.config)?;
        options.check(request.device, request.config)?;
        let path = request.dir.join(ONNX_FILE);
        let fail = |e: &dyn std::fmt::Display| BackendError::Load(format!("cannot load {}: {e}", path.display()));
        let mut builder = Session::builder(environment)
            .map_err(|e| fail(&e))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| fail(&e))?
            .with_intra_threads(options.intra_op_threads.unwrap_or(self.default_intra_op_threads))
            .map_err(|e| fail(&e))?
            .with_inter_threads(options.inter_op_threads.unwrap_or(1))
            .map_err(|e| fail(&e))?
            .with_intra_op_spinning(options.allow_spinning.unwrap_or(false))
            .map_err(|e| fail(&e))?
            .with_inter_op_spinning(options.allow_spinning.unwrap_or(false))
            .map_err(|e| fail(&e))?;
        builder = execution::with_device(builder, request.device, &options)?;
        let session = builder.commit_from_file(&path).map_err(|e| fail(&e))?;
        let metadata = convert::session_metadata(&session, request.config).map_err(|e| fail(&e))?;
        let bound = match options.binds_io(request.device) {
            true => Some(BoundRun::new(&session, request.device, &metadata, options.cuda_graph).map_err(|e| fail(&e))?),
            false => None,
        };
        Ok(Box::new(OnnxBackend { session, bound, metadata: Arc::new(metadata) }))
    }
}

/// One ONNX Runtime session, owned by one instance thread.
struct OnnxBackend {
    session: Session,
    /// Set when the instance binds its inputs and outputs.
    bound: Option<BoundRun>,
    metadata: Arc<ModelMetadata>,
}

impl Backend for OnnxBackend {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn infer(&mut self, batch: Batch) -> Result<BatchOutput, BackendError> {
        if let Some(bound) = &mut self.bound {
            let outputs = bound.run(&mut self.session, &batch, &self.metadata.outputs)?;
            return Ok(BatchOutput { outputs });
        }
        let inputs = batch
            .inputs
            .iter()
            .map(|t| convert::to_value(t).map(|v| (t.name.as_str(), v)))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = self.session.run(inputs).map_err(|e| BackendError::Run(format!("ONNX Runtime failed: {e}")))?;
        let outputs = convert::outputs_of(&outputs, &self.metadata.outputs)?;
        Ok(BatchOutput { outputs })
    }
}
