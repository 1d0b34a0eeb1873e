//! Still images decoded by GStreamer, for the commands that look at faces in them.

use std::path::Path;

use anyhow::{anyhow, bail};
use fess_vision::preprocess::FrameView;
use gst::prelude::*;

/// The most pixels an image may have (50 megapixels: 150 MB decoded to RGB). A still of a face
/// needs far fewer; a bigger one is refused from its header, before anything is decoded: a PNG of
/// a few hundred kilobytes can declare 30000 × 30000 pixels, gigabytes once decoded.
pub const MAX_IMAGE_PIXELS: u64 = 50_000_000;

/// Refuses an image whose header declares more than [`MAX_IMAGE_PIXELS`], or that has no header
/// this check can read.
fn check_size(path: &Path) -> anyhow::Result<()> {
    let size = imagesize::size(path).map_err(|e| match e {
        imagesize::ImageError::IoError(e) => anyhow!("cannot read: {e}"),
        _ => anyhow!("not an image file (no image header FESS knows)"),
    })?;
    let pixels = size.width as u64 * size.height as u64;
    if pixels > MAX_IMAGE_PIXELS {
        bail!(
            "the image is {} × {} pixels ({:.0} megapixels), more than the {} megapixels FESS \
             decodes: scale it down first",
            size.width,
            size.height,
            pixels as f64 / 1e6,
            MAX_IMAGE_PIXELS / 1_000_000
        );
    }
    Ok(())
}

/// Decodes `path` (any image decodebin reads, up to [`MAX_IMAGE_PIXELS`]) to RGB and hands its
/// pixels to `look`.
pub fn with_decoded<T>(
    path: &Path,
    look: impl FnOnce(&FrameView) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if !path.is_file() {
        bail!("no such file");
    }
    check_size(path)?;
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
    let view = fess_gst::video_frame::view(&frame).ok_or_else(|| anyhow!("unexpected format"))?;
    look(&view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_beyond_the_bound_are_refused_from_their_header() {
        let dir = std::env::temp_dir().join(format!("fess-image-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let huge = dir.join("huge.png");
        fess_testkit::png_declaring(&huge, 30_000, 30_000);
        let e = with_decoded(&huge, |_| Ok(())).unwrap_err().to_string();
        assert!(
            e.contains("30000 × 30000 pixels (900 megapixels), more than the 50 megapixels"),
            "{e}"
        );
        let fits = dir.join("fits.png");
        fess_testkit::png_declaring(&fits, 5_000, 10_000);
        check_size(&fits).unwrap();
        let text = dir.join("text.png");
        std::fs::write(&text, "not an image").unwrap();
        let e = check_size(&text).unwrap_err().to_string();
        assert!(e.contains("not an image file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
