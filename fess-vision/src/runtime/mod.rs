//! Running ONNX models: a model's declared [`signature`], one ONNX Runtime session
//! ([`inference`]), the process-wide [`engine`] registry that shares a model between elements,
//! and the [`worker`] threads ("lanes") that run inferences off the streaming thread.

pub mod engine;
pub mod inference;
pub mod signature;
pub mod worker;
