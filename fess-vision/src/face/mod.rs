//! Faces: the RetinaFace decoder, alignment, the detection + embedding engine, the rule
//! deciding when a tracked face needs the embedding model again, and fessface's per-frame
//! stage.

pub mod align;
pub mod engine;
pub mod enrol;
pub mod recheck;
pub mod retinaface;
pub mod stage;
