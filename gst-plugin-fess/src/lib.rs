//! FESS GStreamer plugin: video analytics elements.
//!
//! The elements live in one folder each; everything else is pure logic with no GStreamer in
//! it (decoders, NMS, tracker, motion gate, preprocessing, stats) so it can be unit-tested, plus
//! the small shared glue for metadata and the camera id.

use gst::glib;

mod analysis;
pub mod blur;
pub mod camera;
pub mod canvas;
pub mod decoders;
pub mod detect_stage;
pub mod draw;
pub mod engine;
pub mod face;
mod fessdetect;
mod fessface;
mod fesskafkasink;
mod fessoverlay;
pub mod font;
pub mod geometry;
pub mod inference;
pub mod labels;
pub mod motion;
pub mod nms;
pub mod paths;
pub mod preprocess;
pub mod roi_meta;
pub mod signature;
pub mod stats;
mod stats_structure;
pub mod tracker;
pub mod video_frame;
pub mod worker;

pub use fessdetect::ModelType;
pub use fessface::FaceMode;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    fessdetect::register(plugin)?;
    fessface::register(plugin)?;
    fessoverlay::register(plugin)?;
    fesskafkasink::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    fess,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
