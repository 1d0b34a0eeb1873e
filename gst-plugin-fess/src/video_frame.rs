//! Glue between GStreamer's mapped video frames and the preprocessor's [`FrameView`].

use gst_video::prelude::*;
use gst_video::VideoFormat;

use crate::preprocess::{FrameView, PixelFormat};

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

/// The planes of a mapped frame, or `None` for a format the preprocessor does not read.
pub fn view<'a>(frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> Option<FrameView<'a>> {
    Some(FrameView {
        format: pixel_format(frame.format())?,
        width: frame.width() as usize,
        height: frame.height() as usize,
        planes: [0, 1, 2].map(|i| frame.plane_data(i).unwrap_or(&[])),
        strides: [0, 1, 2]
            .map(|i| frame.plane_stride().get(i).copied().unwrap_or(0).max(0) as usize),
    })
}
