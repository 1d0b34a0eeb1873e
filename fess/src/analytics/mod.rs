//! Scene analytics on tracked objects, without GStreamer: lines that count crossings with their
//! direction ([`line`]). Zones, occupancy and dwell follow (issue 21).

pub mod line;
