//! FESS GStreamer plugin: video analytics elements.
//!
//! The elements live in one folder each, with the little glue they share (`analysis`: the
//! camera-id and stats reporting of an analysing element; `stats_structure`: stats as element
//! messages). What they compute lives in `fess-vision`, what they put on buffers in `fess-gst`,
//! events and delivery in `fess`.

use gst::glib;

mod analysis;
mod fessdetect;
mod fessface;
mod fesskafkasink;
mod fessoverlay;
mod stats_structure;

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
