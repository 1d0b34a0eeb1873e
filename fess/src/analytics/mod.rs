//! Scene analytics on tracked objects, without GStreamer: lines that count crossings with their
//! direction ([`line`]) and zones that count their occupants and how long they stay ([`zone`]).

pub mod line;
pub mod zone;
