//! Object detection: model output [`decoders`], class [`labels`], the [`motion`] gate and
//! fessdetect's per-frame [`stage`].

pub mod decoders;
pub mod labels;
pub mod motion;
pub mod stage;
