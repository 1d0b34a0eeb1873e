//! Glue between GStreamer's mapped video frames and the preprocessor's [`FrameView`].

use gst_video::prelude::*;
use gst_video::VideoFormat;

use fess_vision::preprocess::{FrameView, PixelFormat, Pixels, YuvColour, YuvMatrix};

/// The raw formats the preprocessor reads directly, in caps order.
pub const FORMATS: [VideoFormat; 15] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Xrgb,
    VideoFormat::Xbgr,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Argb,
    VideoFormat::Abgr,
    VideoFormat::I420,
    VideoFormat::Yv12,
    VideoFormat::Nv12,
    VideoFormat::Nv21,
    VideoFormat::Gray8,
];

pub fn pixel_format(f: VideoFormat) -> Option<PixelFormat> {
    Some(match f {
        VideoFormat::Rgb => PixelFormat::Rgb,
        VideoFormat::Bgr => PixelFormat::Bgr,
        VideoFormat::Rgbx => PixelFormat::Rgbx,
        VideoFormat::Bgrx => PixelFormat::Bgrx,
        VideoFormat::Xrgb => PixelFormat::Xrgb,
        VideoFormat::Xbgr => PixelFormat::Xbgr,
        VideoFormat::Rgba => PixelFormat::Rgba,
        VideoFormat::Bgra => PixelFormat::Bgra,
        VideoFormat::Argb => PixelFormat::Argb,
        VideoFormat::Abgr => PixelFormat::Abgr,
        VideoFormat::I420 => PixelFormat::I420,
        VideoFormat::Yv12 => PixelFormat::Yv12,
        VideoFormat::Nv12 => PixelFormat::Nv12,
        VideoFormat::Nv21 => PixelFormat::Nv21,
        VideoFormat::Gray8 => PixelFormat::Gray8,
        _ => return None,
    })
}

/// The error for a buffer that cannot be mapped as a frame of the negotiated caps (too small,
/// or its memory unreadable).
pub fn unmappable() -> gst::ErrorMessage {
    gst::error_msg!(gst::StreamError::Format, ["cannot map the video frame"])
}

/// Maps `buffer` as a frame of `info` and calls `f` with its planes.
pub fn with_view<R>(
    buffer: &gst::BufferRef,
    info: &gst_video::VideoInfo,
    f: impl FnOnce(&FrameView<'_>) -> R,
) -> Result<R, gst::ErrorMessage> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
        .map_err(|_| unmappable())?;
    let view = view(&frame).ok_or_else(|| {
        gst::error_msg!(
            gst::CoreError::Negotiation,
            ["unsupported format {:?}", info.format()]
        )
    })?;
    Ok(f(&view))
}

/// A buffer with the caps it came with, for an analysis stage that reads it later.
pub struct VideoBuffer {
    pub buffer: gst::Buffer,
    pub info: gst_video::VideoInfo,
}

impl Pixels for VideoBuffer {
    type Error = gst::ErrorMessage;

    fn read<R>(&self, f: impl FnOnce(&FrameView<'_>) -> R) -> Result<R, gst::ErrorMessage> {
        with_view(&self.buffer, &self.info, f)
    }
}

/// The planes of a mapped frame, or `None` for a format the preprocessor does not read.
pub fn view<'a>(frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> Option<FrameView<'a>> {
    Some(FrameView {
        format: pixel_format(frame.format())?,
        width: frame.width() as usize,
        height: frame.height() as usize,
        planes: [0, 1, 2].map(|i| frame.plane_data(i).unwrap_or(&[])),
        strides: [0, 1, 2]
            .map(|i| frame.plane_stride().get(i).copied().unwrap_or(0).max(0) as usize),
        yuv: yuv_colour(frame.info().colorimetry()),
    })
}

/// The caps' colorimetry as the preprocessor's YUV conversion; what it cannot name (unknown,
/// or a rare matrix) falls back to BT.601 limited range, GStreamer's SD default.
pub fn yuv_colour(c: gst_video::VideoColorimetry) -> YuvColour {
    use gst_video::{VideoColorMatrix, VideoColorRange};
    YuvColour {
        matrix: match c.matrix() {
            VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
            VideoColorMatrix::Bt2020 => YuvMatrix::Bt2020,
            _ => YuvMatrix::Bt601,
        },
        full_range: c.range() == VideoColorRange::Range0_255,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colorimetry_from_caps() {
        gst::init().unwrap();
        let colour = |c: &str| yuv_colour(c.parse().unwrap());
        assert_eq!(
            colour("bt709"),
            YuvColour {
                matrix: YuvMatrix::Bt709,
                full_range: false
            }
        );
        assert_eq!(colour("bt601"), YuvColour::default());
        assert_eq!(
            colour("bt2020"),
            YuvColour {
                matrix: YuvMatrix::Bt2020,
                full_range: false
            }
        );
        // JPEG-style: BT.601 matrix, full range ("1:4:0:0" = range 0-255, matrix BT.601).
        assert_eq!(
            colour("1:4:0:0"),
            YuvColour {
                matrix: YuvMatrix::Bt601,
                full_range: true
            }
        );
    }
}
