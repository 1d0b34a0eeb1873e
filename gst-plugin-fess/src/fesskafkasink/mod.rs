//! `fesskafkasink`: publishes what the fess elements found (motion, faces, alerts) as the user's
//! JSON events to Kafka, without ever blocking the video, through [`fess::EventPublisher`].

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FessKafkaSink(ObjectSubclass<imp::FessKafkaSink>) @extends gst_base::BaseSink, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "fesskafkasink",
        gst::Rank::NONE,
        FessKafkaSink::static_type(),
    )
}
