//! `fessoverlay`: draws what the fess elements found (boxes, class labels, track ids, person
//! names) onto the video, and blurs faces or persons on request, for an annotated recording or
//! a live view.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FessOverlay(ObjectSubclass<imp::FessOverlay>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "fessoverlay",
        gst::Rank::NONE,
        FessOverlay::static_type(),
    )
}
