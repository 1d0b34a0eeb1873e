//! Annotating frames: a [`canvas`] in the frame's own pixel format, [`rect`]angles of pixels,
//! the caption [`font`], the privacy [`blur`], and boxes with captions drawn from the objects
//! found ([`annotate`]).

pub mod annotate;
pub mod blur;
pub mod canvas;
pub mod font;
pub mod rect;
