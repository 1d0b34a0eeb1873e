use std::path::Path;
use std::sync::{LazyLock, Mutex};

use fess::sync::MutexExt;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;

use fess::analytics::scene::Scene;
use fess::events::emission::{Frame, FORGET_AFTER};
use fess_gst::{roi_meta, video_frame};
use fess_vision::draw::annotate::{blur_objects, draw_label, draw_objects, Style};
use fess_vision::draw::canvas::{Canvas, CanvasFormat};
use fess_vision::draw::font::{CaptionFont, FontError, DEFAULT_FONT};
use fess_vision::draw::shapes::{draw_arrow, draw_line, draw_polygon};

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
const DEFAULT_BLUR_FACES: bool = false;
const DEFAULT_BLUR_PERSONS: bool = false;
/// Caption text size in pixels per em for each step of `font-scale` (16 px at the default).
const PX_PER_FONT_SCALE: f32 = 8.0;
/// Colours of the counting lines and the zones of a rules file.
const LINE_COLOUR: [u8; 3] = [0, 220, 255];
const ZONE_COLOUR: [u8; 3] = [255, 200, 0];

/// The formats drawn on directly, planar YUV first: what decoders and encoders use.
const FORMATS: [gst_video::VideoFormat; 4] = [
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
];

#[derive(Debug, Clone)]
struct Settings {
    thickness: u32,
    font_scale: u32,
    show_confidence: bool,
    font: String,
    blur_faces: bool,
    blur_persons: bool,
    alert_rules: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            thickness: DEFAULT_THICKNESS,
            font_scale: DEFAULT_FONT_SCALE,
            show_confidence: DEFAULT_SHOW_CONFIDENCE,
            font: DEFAULT_FONT.to_string(),
            blur_faces: DEFAULT_BLUR_FACES,
            blur_persons: DEFAULT_BLUR_PERSONS,
            alert_rules: None,
        }
    }
}

#[derive(Default)]
enum State {
    #[default]
    Stopped,
    Started {
        // Boxed: a parsed font is large, and `Stopped` carries nothing.
        font: Box<CaptionFont>,
        canvas: Option<(CanvasFormat, gst_video::VideoInfo)>,
        /// The lines and zones of `alert-rules`, counting as fesskafkasink does.
        scene: Option<Box<Scene>>,
        /// The clock of last resort for frames without timestamps, as the sink's.
        started: std::time::Instant,
    },
}

#[derive(Default)]
pub struct FessOverlay {
    settings: Mutex<Settings>,
    state: Mutex<State>,
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
                    .blurb("Size of the captions: the text is 8 times this many pixels per em (16 px at 2)")
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
                glib::ParamSpecString::builder("font")
                    .nick("Caption font")
                    .blurb(
                        "TrueType/OpenType font file for the captions, read when the element starts \
                         (the default is in Debian's fonts-dejavu-core)",
                    )
                    .default_value(Some(DEFAULT_FONT))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("blur-faces")
                    .nick("Blur faces")
                    .blurb("Blur every face region in the output, for privacy in recordings")
                    .default_value(DEFAULT_BLUR_FACES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("blur-persons")
                    .nick("Blur persons")
                    .blurb("Blur every person region in the output, for privacy in recordings")
                    .default_value(DEFAULT_BLUR_PERSONS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("alert-rules")
                    .nick("Alert rules")
                    .blurb(
                        "The rules file of fesskafkasink (TOML, or JSON when it ends in .json): its \
                         counting lines and zones are drawn with live counts (crossings each way, \
                         objects in each zone), counted as the sink counts them",
                    )
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
            "thickness" => s.thickness = value.get().unwrap(),
            "font-scale" => s.font_scale = value.get().unwrap(),
            "show-confidence" => s.show_confidence = value.get().unwrap(),
            "font" => {
                s.font = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_FONT.to_string())
            }
            "blur-faces" => s.blur_faces = value.get().unwrap(),
            "blur-persons" => s.blur_persons = value.get().unwrap(),
            "alert-rules" => s.alert_rules = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.locked();
        match pspec.name() {
            "thickness" => s.thickness.to_value(),
            "font-scale" => s.font_scale.to_value(),
            "show-confidence" => s.show_confidence.to_value(),
            "font" => s.font.to_value(),
            "blur-faces" => s.blur_faces.to_value(),
            "blur-persons" => s.blur_persons.to_value(),
            "alert-rules" => s.alert_rules.to_value(),
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
                 person names in a TrueType font; unauthorised faces in red) onto I420, NV12, RGB \
                 or BGR video, can blur faces and persons for privacy, and with alert-rules draws \
                 the counting lines and zones of a rules file with live counts. Example: \
                 gst-launch-1.0 filesrc location=cam.mp4 ! decodebin ! fessdetect ! fessface ! \
                 fessoverlay blur-faces=true ! openh264enc ! h264parse ! mp4mux ! \
                 filesink location=annotated.mp4",
                "FESS developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(FORMATS)
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

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let (path, rules) = {
            let s = self.settings.locked();
            (
                s.font.clone(),
                s.alert_rules.clone().filter(|r| !r.is_empty()),
            )
        };
        let scene = match rules {
            Some(r) => {
                let set = fess::events::rules::load(Path::new(&r))
                    .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{e}"]))?;
                let scene = Scene::new(set.lines, set.zones, FORGET_AFTER);
                (!scene.is_empty()).then(|| Box::new(scene))
            }
            None => None,
        };
        let font = CaptionFont::load(Path::new(&path)).map_err(|e| match e {
            FontError::Read { .. } => gst::error_msg!(gst::ResourceError::OpenRead, ["{e}"]),
            FontError::Parse { .. } => gst::error_msg!(gst::ResourceError::Settings, ["{e}"]),
        })?;
        gst::debug!(CAT, imp = self, "caption font {path}");
        *self.state.locked() = State::Started {
            font: Box::new(font),
            canvas: None,
            scene,
            started: std::time::Instant::now(),
        };
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.locked() = State::Stopped;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "cannot parse video caps {incaps}"))?;
        let format = match info.format() {
            gst_video::VideoFormat::I420 => CanvasFormat::I420,
            gst_video::VideoFormat::Nv12 => CanvasFormat::Nv12,
            gst_video::VideoFormat::Rgb => CanvasFormat::Rgb,
            gst_video::VideoFormat::Bgr => CanvasFormat::Bgr,
            other => return Err(gst::loggable_error!(CAT, "unsupported format {other:?}")),
        };
        match &mut *self.state.locked() {
            State::Started { canvas, .. } => *canvas = Some((format, info)),
            State::Stopped => return Err(gst::loggable_error!(CAT, "caps before start")),
        }
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let s = self.settings.locked().clone();
        let mut state = self.state.locked();
        let State::Started {
            font,
            canvas: Some((format, info)),
            scene,
            started,
        } = &mut *state
        else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let objects = roi_meta::read(buf);
        if let Some(scene) = scene.as_deref_mut() {
            let obj = self.obj();
            let time = roi_meta::running_time(obj.upcast_ref(), &obj.segment(), buf)
                .unwrap_or_else(|| started.elapsed());
            let (seen, _) = roi_meta::seen(&objects);
            scene.observe(&Frame {
                frame_number: 0,
                time,
                width: info.width(),
                height: info.height(),
                objects: &seen,
                faces: &[],
            });
        } else if objects.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let mut frame =
            gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info).map_err(|_| {
                self.post_error_message(video_frame::unmappable());
                gst::FlowError::Error
            })?;
        let strides =
            [0, 1, 2].map(|i| frame.plane_stride().get(i).copied().unwrap_or(0).max(0) as usize);
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let [p0, p1, p2, _] = frame.planes_data_mut();
        let yuv = video_frame::yuv_colour(info.colorimetry());
        let mut canvas =
            Canvas::new(*format, width, height, [p0, p1, p2], strides, yuv).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"]);
                gst::FlowError::Error
            })?;
        // Blur first, so that the boxes and captions stay sharp on top.
        blur_objects(&mut canvas, &objects, s.blur_faces, s.blur_persons);
        let style = Style {
            thickness: s.thickness as usize,
            font,
            font_px: s.font_scale as f32 * PX_PER_FONT_SCALE,
            show_confidence: s.show_confidence,
        };
        if let Some(scene) = scene.as_deref() {
            draw_scene(&mut canvas, scene, &style);
        }
        draw_objects(&mut canvas, &objects, &style);
        gst::trace!(CAT, imp = self, "drew {} objects", objects.len());
        Ok(gst::FlowSuccess::Ok)
    }
}

/// The zones (outline, "name: objects") and the counting lines (the segment, an arrow to the
/// side its first direction goes to, "name in N · out M") of a rules file.
fn draw_scene(canvas: &mut Canvas, scene: &Scene, style: &Style) {
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let px = |p: [f64; 2]| (p[0] * w, p[1] * h);
    let label_at = |canvas: &mut Canvas, (x, y): (f64, f64), text: &str, colour| {
        let (x, y) = (
            x.clamp(0.0, w - 1.0) as usize,
            y.clamp(0.0, h - 1.0) as usize,
        );
        draw_label(canvas, x, y, text, colour, style.font, style.font_px);
    };
    for (zi, z) in scene.zones().iter().enumerate() {
        let points: Vec<(f64, f64)> = z.polygon.iter().map(|p| px(*p)).collect();
        draw_polygon(canvas, &points, ZONE_COLOUR, style.thickness);
        // Labelled under its topmost corner, inside the zone.
        let top = points
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or_default();
        let text = format!("{}: {}", z.name, scene.occupants(zi, None));
        label_at(
            canvas,
            (top.0, top.1 + style.font_px as f64 * 1.5),
            &text,
            ZONE_COLOUR,
        );
    }
    for (li, l) in scene.lines().iter().enumerate() {
        let g = &l.geometry;
        let (a, b) = (px([g.a.x, g.a.y]), px([g.b.x, g.b.y]));
        draw_line(canvas, a, b, LINE_COLOUR, style.thickness);
        // The first direction crosses from A→B's left to its right as the frame shows it:
        // the arrow points right of A→B, from the middle, a tenth of the line long.
        let (mx, my) = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        // The label a quarter of the way from B, clear of the arrow in the middle.
        let (lx, ly) = (b.0 + (a.0 - b.0) / 4.0, b.1 + (a.1 - b.1) / 4.0);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = dx.hypot(dy).max(1.0);
        let reach = (len / 10.0).max(12.0);
        let tip = (mx - dy / len * reach, my + dx / len * reach);
        let tail = (mx + dy / len * reach, my - dx / len * reach);
        draw_arrow(canvas, tail, tip, LINE_COLOUR, style.thickness);
        let text = format!(
            "{} {} {} · {} {}",
            l.name,
            l.directions[0],
            scene.crossings(li, fess::analytics::line::Direction::In),
            l.directions[1],
            scene.crossings(li, fess::analytics::line::Direction::Out),
        );
        label_at(canvas, (lx + 4.0, ly - 4.0), &text, LINE_COLOUR);
    }
}
