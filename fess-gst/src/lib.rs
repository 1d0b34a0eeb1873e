//! What FESS elements and the applications around them share on the GStreamer side: detections
//! as ROI metas on buffers ([`roi_meta`]), mapped video frames as the preprocessor's frame views
//! ([`video_frame`]), and the sticky event that names the camera ([`camera`]). The elements
//! write them; `fess` and tests read them; neither needs the plugin as a library.

pub mod camera;
pub mod roi_meta;
pub mod video_frame;
