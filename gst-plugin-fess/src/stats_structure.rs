//! Stats counters as GStreamer structures, for the elements' read-only `stats` property.

use fess::observability::stats::Histogram;

/// A latency histogram as a structure: bounds, per-bucket counts, sum and count.
pub fn histogram(name: &str, h: &Histogram) -> gst::Structure {
    gst::Structure::builder(name)
        .field("bounds", gst::Array::new(h.bounds.iter().copied()))
        .field("counts", gst::Array::new(h.counts.iter().copied()))
        .field("sum", h.sum)
        .field("count", h.count)
        .build()
}
