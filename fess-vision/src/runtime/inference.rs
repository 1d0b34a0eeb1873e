//! The one ONNX Runtime wrapper every element uses: loading the runtime, creating sessions,
//! reading a model's signature and running it on a preprocessed tensor.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::preprocess::TensorBuffer;
use crate::runtime::signature::{ModelSignature, OutputData, OutputTensor, TensorInfo, TensorType};

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(
        "cannot load the ONNX Runtime library {path}: {reason} (looked at: {looked}; \
         run scripts/setup.sh, or set ORT_DYLIB_PATH to libonnxruntime.so)"
    )]
    Runtime {
        path: String,
        looked: String,
        reason: String,
    },
    #[error("model file {0} does not exist (run scripts/setup.sh, or set the model property)")]
    MissingModel(String),
    #[error("model {path} cannot be loaded by ONNX Runtime (is it an ONNX file?): {reason}")]
    BadModel { path: String, reason: String },
    #[error("model {path}: inference failed: {reason}")]
    Run { path: String, reason: String },
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loaded on first use. Nothing may call into `ort`
/// before this: its first call would load the library from `ort`'s own default name, and panic
/// when that is not on the loader's path.
pub fn environment() -> Result<&'static ort::environment::Environment, InferenceError> {
    let search = crate::paths::onnxruntime_library();
    let lib = &search.library;
    ENVIRONMENT
        .get_or_init(|| {
            ort::init_from(lib)
                .map_err(|e| e.to_string())?
                .with_name("fess")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| InferenceError::Runtime {
            path: lib.display().to_string(),
            looked: search.looked.join(", "),
            reason: reason.clone(),
        })
}

/// A loaded model and what it declares.
pub struct Model {
    session: Session,
    path: PathBuf,
    signature: ModelSignature,
    output_names: Vec<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("signature", &self.signature)
            .finish()
    }
}

fn tensor_info(name: &str, ty: &ValueType) -> TensorInfo {
    match ty {
        ValueType::Tensor { ty, shape, .. } => TensorInfo {
            name: name.to_string(),
            dims: shape.iter().copied().collect(),
            ty: match ty {
                TensorElementType::Float32 => TensorType::F32,
                TensorElementType::Uint8 => TensorType::U8,
                TensorElementType::Int32 => TensorType::I32,
                TensorElementType::Int64 => TensorType::I64,
                _ => TensorType::Other,
            },
        },
        _ => TensorInfo {
            name: name.to_string(),
            dims: Vec::new(),
            ty: TensorType::Other,
        },
    }
}

impl Model {
    /// Loads `path` with `threads` intra-op threads (0 = ONNX Runtime's default); sessions of
    /// one model loaded with the same `prepacked` container share their prepacked weights.
    pub fn load(
        path: &Path,
        threads: usize,
        prepacked: Option<&PrepackedWeights>,
    ) -> Result<Model, InferenceError> {
        if !path.is_file() {
            return Err(InferenceError::MissingModel(path.display().to_string()));
        }
        let env = environment()?;
        let bad = |e: String| InferenceError::BadModel {
            path: path.display().to_string(),
            reason: e,
        };
        let mut builder = Session::builder(env)
            .map_err(|e| bad(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| bad(e.to_string()))?
            // Spinning workers would keep the cores busy after each run, while the streaming
            // thread decodes and preprocesses the next frame beside the run (measured with
            // benches/detect_fps.rs: spinning speeds up the bare session, slows the pipeline).
            .with_intra_op_spinning(false)
            .map_err(|e| bad(e.to_string()))?;
        if let Some(prepacked) = prepacked {
            builder = builder
                .with_prepacked_weights(prepacked)
                .map_err(|e| bad(e.to_string()))?;
        }
        if threads > 0 {
            builder = builder
                .with_intra_threads(threads)
                .map_err(|e| bad(e.to_string()))?;
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|e| bad(e.to_string()))?;
        let signature = ModelSignature {
            inputs: session
                .inputs()
                .iter()
                .map(|i| tensor_info(i.name(), i.dtype()))
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(|o| tensor_info(o.name(), o.dtype()))
                .collect(),
        };
        let output_names = signature.outputs.iter().map(|o| o.name.clone()).collect();
        Ok(Model {
            session,
            path: path.to_path_buf(),
            signature,
            output_names,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// Runs the model on one tensor and hands the outputs, in declared order, with their names
    /// to `f`.
    pub fn run<R>(
        &mut self,
        input: &TensorBuffer,
        shape: &[i64],
        f: impl FnOnce(&[OutputTensor], &[String]) -> R,
    ) -> Result<R, InferenceError> {
        let path = self.path.display().to_string();
        let fail = |e: ort::Error| InferenceError::Run {
            path: path.clone(),
            reason: e.to_string(),
        };
        let outputs = match input {
            TensorBuffer::F32(data) => {
                let t = TensorRef::from_array_view((shape, data.as_slice())).map_err(fail)?;
                self.session.run(ort::inputs![t]).map_err(fail)?
            }
            TensorBuffer::U8(data) => {
                let t = TensorRef::from_array_view((shape, data.as_slice())).map_err(fail)?;
                self.session.run(ort::inputs![t]).map_err(fail)?
            }
        };
        let mut shapes: Vec<Vec<usize>> = Vec::with_capacity(outputs.len());
        let mut datas: Vec<OutputData> = Vec::with_capacity(outputs.len());
        for (i, name) in self.output_names.iter().enumerate() {
            let value = &outputs[i];
            let (shape, data) = if let Ok((s, d)) = value.try_extract_tensor::<f32>() {
                (s, OutputData::F32(d))
            } else if let Ok((s, d)) = value.try_extract_tensor::<i64>() {
                (s, OutputData::I64(d))
            } else if let Ok((s, d)) = value.try_extract_tensor::<i32>() {
                (s, OutputData::I32(d))
            } else {
                return Err(InferenceError::Run {
                    path,
                    reason: format!("output {name} is not a float32, int64 or int32 tensor"),
                });
            };
            shapes.push(shape.iter().map(|&d| d.max(0) as usize).collect());
            datas.push(data);
        }
        let tensors: Vec<OutputTensor> = shapes
            .iter()
            .zip(datas)
            .map(|(s, data)| OutputTensor { shape: s, data })
            .collect();
        Ok(f(&tensors, &self.output_names))
    }
}
