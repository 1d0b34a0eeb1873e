//! `fessdetect`: object detection with ONNX Runtime, motion gating and tracking, attaching one
//! region-of-interest meta per object to each buffer it passes through unchanged.

use gst::glib;
use gst::prelude::*;

mod imp;

/// Which decoder reads the model's outputs.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFessModelType")]
pub enum ModelType {
    #[enum_value(
        name = "Auto: chosen from the model's inputs and outputs",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(
        name = "CenterNet: one [1,N,6] output (x1,y1,x2,y2,score,class)",
        nick = "centernet"
    )]
    CenterNet = 1,
    #[enum_value(
        name = "SSD: TF object-detection API outputs (detection_boxes, ...)",
        nick = "ssd"
    )]
    Ssd = 2,
    #[enum_value(
        name = "RTMDet: mmdeploy end2end (dets, labels) or raw per-stride heads",
        nick = "rtmdet"
    )]
    RtmDet = 3,
    #[enum_value(
        name = "YOLOX: one [1,N,5+C] output, a row per cell of the stride 8/16/32 grids",
        nick = "yolox"
    )]
    Yolox = 4,
}

glib::wrapper! {
    pub struct FessDetect(ObjectSubclass<imp::FessDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    ModelType::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "fessdetect",
        gst::Rank::NONE,
        FessDetect::static_type(),
    )
}
