//! `fessface`: finds faces (inside person ROIs or on the whole frame), recognises them against
//! the gallery in Redis and attaches one face ROI per face (parent = its person).

use gst::glib;
use gst::prelude::*;

mod imp;

/// Where faces are searched.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFessFaceMode")]
pub enum FaceMode {
    #[enum_value(
        name = "Persons: inside the person ROIs of an upstream fessdetect (the whole frame when there is none)",
        nick = "persons"
    )]
    Persons = 0,
    #[enum_value(name = "Frame: on the whole frame", nick = "frame")]
    Frame = 1,
}

glib::wrapper! {
    pub struct FessFace(ObjectSubclass<imp::FessFace>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    FaceMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "fessface",
        gst::Rank::NONE,
        FessFace::static_type(),
    )
}
