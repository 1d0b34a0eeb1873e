//! Annotating frames: a [`canvas`] in the frame's own pixel format, [`rect`]angles of pixels,
//! the caption [`font`], the privacy [`blur`], boxes with captions drawn from the objects
//! found ([`annotate`]), and lines, outlines and arrows for counting lines and zones ([`shapes`]).

pub mod annotate;
pub mod blur;
pub mod canvas;
pub mod font;
pub mod rect;
pub mod shapes;
