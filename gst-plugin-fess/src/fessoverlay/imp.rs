use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;

use crate::draw::{draw_objects, RgbImage};
use crate::roi_meta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fessoverlay",
        gst::DebugColorFlags::empty(),
        Some("FESS annotation overlay"),
    )
});

const DEFAULT_THICKNESS: u32 = 2;
const DEFAULT_FONT_SCALE: u32 = 2;
const DEFAULT_SHOW_CONFIDENCE: bool = true;

#[derive(Debug, Clone, Copy)]
struct Settings {
    thickness: u32,
    font_scale: u32,
    show_confidence: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            thickness: DEFAULT_THICKNESS,
            font_scale: DEFAULT_FONT_SCALE,
            show_confidence: DEFAULT_SHOW_CONFIDENCE,
        }
    }
}

#[derive(Default)]
pub struct FessOverlay {
    settings: Mutex<Settings>,
    info: Mutex<Option<gst_video::VideoInfo>>,
}

#[glib::object_subclass]
impl ObjectSubclass for FessOverlay {
    const NAME: &'static str = "GstFessOverlay";
    type Type = super::FessOverlay;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FessOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("thickness")
                    .nick("Line thickness")
                    .blurb("Width of the box outlines, in pixels")
                    .minimum(1)
                    .maximum(16)
                    .default_value(DEFAULT_THICKNESS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("font-scale")
                    .nick("Font scale")
                    .blurb("Size of the captions: each pixel of the 5x7 font drawn this many pixels wide")
                    .minimum(1)
                    .maximum(8)
                    .default_value(DEFAULT_FONT_SCALE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-confidence")
                    .nick("Show confidence")
                    .blurb("Append the detection confidence (or a face's similarity) to each caption")
                    .default_value(DEFAULT_SHOW_CONFIDENCE)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "thickness" => s.thickness = value.get().unwrap(),
            "font-scale" => s.font_scale = value.get().unwrap(),
            "show-confidence" => s.show_confidence = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "thickness" => s.thickness.to_value(),
            "font-scale" => s.font_scale.to_value(),
            "show-confidence" => s.show_confidence.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FessOverlay {}

impl ElementImpl for FessOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "FESS annotation overlay",
                "Filter/Editor/Video",
                "Draws the ROIs of fessdetect and fessface (boxes, class labels, track ids, \
                 person names; unauthorised faces in red) onto RGB or BGR video. Example: \
                 gst-launch-1.0 filesrc location=cam.mp4 ! decodebin ! videoconvert ! fessdetect ! \
                 videoconvert ! fessoverlay ! videoconvert ! openh264enc ! h264parse ! mp4mux ! \
                 filesink location=annotated.mp4",
                "FESS developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::Rgb, gst_video::VideoFormat::Bgr])
                .build();
            [gst::PadDirection::Src, gst::PadDirection::Sink]
                .into_iter()
                .map(|dir| {
                    let name = if dir == gst::PadDirection::Src {
                        "src"
                    } else {
                        "sink"
                    };
                    gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps).unwrap()
                })
                .collect()
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FessOverlay {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "cannot parse video caps {incaps}"))?;
        *self.info.lock().unwrap() = Some(info);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let s = *self.settings.lock().unwrap();
        let info = self
            .info
            .lock()
            .unwrap()
            .clone()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let objects = roi_meta::read(buf);
        if objects.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let bgr = info.format() == gst_video::VideoFormat::Bgr;
        let mut frame =
            gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info).map_err(|_| {
                self.post_error_message(crate::video_frame::unmappable());
                gst::FlowError::Error
            })?;
        let stride = frame.plane_stride()[0].max(0) as usize;
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let data = frame.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?;
        let mut img = RgbImage {
            data,
            width,
            height,
            stride,
        };
        draw_objects(
            &mut img,
            &objects,
            s.thickness as usize,
            s.font_scale as usize,
            s.show_confidence,
            bgr,
        );
        gst::trace!(CAT, imp = self, "drew {} objects", objects.len());
        Ok(gst::FlowSuccess::Ok)
    }
}
