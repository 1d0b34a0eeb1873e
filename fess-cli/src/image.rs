//! Still images decoded by GStreamer, for the commands that look at faces in them.

use std::path::Path;

use anyhow::{anyhow, bail};
use gst::prelude::*;
use gstfess::preprocess::FrameView;

/// Decodes `path` (any image decodebin reads) to RGB and hands its pixels to `look`.
pub fn with_decoded<T>(
    path: &Path,
    look: impl FnOnce(&FrameView) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if !path.is_file() {
        bail!("no such file");
    }
    gst::init()?;
    let pipeline = gst::parse::launch(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink",
    )?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    pipeline
        .by_name("src")
        .expect("named in the launch line")
        .set_property("location", path.to_string_lossy().as_ref());
    let sink = pipeline
        .by_name("sink")
        .expect("named in the launch line")
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow!("not an appsink"))?;
    pipeline.set_state(gst::State::Playing)?;
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(10));
    let bus_error = pipeline.bus().and_then(|b| {
        b.pop_filtered(&[gst::MessageType::Error])
            .map(|m| match m.view() {
                gst::MessageView::Error(e) => e.error().to_string(),
                _ => unreachable!("filtered"),
            })
    });
    let _ = pipeline.set_state(gst::State::Null);
    let sample = sample.ok_or_else(|| {
        anyhow!(
            "not an image this system can decode{}",
            bus_error.map(|e| format!(" ({e})")).unwrap_or_default()
        )
    })?;
    let caps = sample
        .caps()
        .ok_or_else(|| anyhow!("decoded image without caps"))?;
    let info = gst_video::VideoInfo::from_caps(caps)?;
    let buffer = sample.buffer().ok_or_else(|| anyhow!("no image data"))?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| anyhow!("cannot map the decoded image"))?;
    let view = gstfess::video_frame::view(&frame).ok_or_else(|| anyhow!("unexpected format"))?;
    look(&view)
}
