//! Faces: the RetinaFace decoder, alignment, the detection + embedding engine and the rule
//! deciding when a tracked face needs the embedding model again.

pub mod align;
pub mod engine;
pub mod enrol;
pub mod recheck;
pub mod retinaface;
