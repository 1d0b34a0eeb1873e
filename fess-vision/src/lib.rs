//! FESS vision: everything that computes on pixels and tensors, with no GStreamer in it, so each
//! part can be tested on its own (`cargo test -p fess-vision`).
//!
//! - [`preprocess`] turns a frame of any supported layout into a model's input tensor;
//! - [`runtime`] runs ONNX models (ONNX Runtime loaded at run time) and shares one engine per
//!   model between the elements of a process;
//! - [`detect`] is object detection: decoders for each model family, the motion gate, labels and
//!   fessdetect's per-frame stage; [`tracker`] and [`nms`] serve it and the face stage;
//! - [`face`] is face detection, alignment, embedding and fessface's per-frame stage;
//! - [`draw`] is the annotation of frames (canvas, caption font, privacy blur);
//! - [`objects`] and [`geometry`] are the shared vocabulary: boxes and the objects found in them.

pub mod detect;
pub mod draw;
pub mod face;
pub mod geometry;
pub mod nms;
pub mod objects;
pub mod paths;
pub mod preprocess;
pub mod runtime;
pub mod stats;
pub mod tracker;
