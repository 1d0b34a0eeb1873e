//! `fesskafkasink`: publishes what the fess elements found (motion, faces, alerts) as the user's
//! JSON events to Kafka, without ever blocking the video, through [`fess::delivery::publisher::EventPublisher`].

use gst::glib;
use gst::prelude::*;

mod imp;

/// Acknowledgements the producer waits for (librdkafka's `acks`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(i32)]
#[enum_type(name = "GstFessKafkaAcks")]
pub enum Acks {
    #[default]
    #[enum_value(name = "From the environment: KAFKA_ACKS, else 1", nick = "default")]
    Default = -2,
    #[enum_value(name = "None: the producer does not wait", nick = "0")]
    None = 0,
    #[enum_value(name = "The partition leader has written it", nick = "1")]
    Leader = 1,
    #[enum_value(name = "Every in-sync replica has it", nick = "all")]
    All = -1,
}

impl Acks {
    /// The librdkafka value; `None` to take the environment's.
    pub fn value(self) -> Option<&'static str> {
        match self {
            Acks::Default => None,
            Acks::None => Some("0"),
            Acks::Leader => Some("1"),
            Acks::All => Some("all"),
        }
    }
}

/// Compression of the message batches (librdkafka's `compression.codec`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(i32)]
#[enum_type(name = "GstFessKafkaCompression")]
pub enum Compression {
    #[default]
    #[enum_value(
        name = "From the environment: KAFKA_COMPRESSION, else snappy",
        nick = "default"
    )]
    Default = 0,
    #[enum_value(name = "None", nick = "none")]
    None = 1,
    #[enum_value(name = "gzip", nick = "gzip")]
    Gzip = 2,
    #[enum_value(name = "Snappy", nick = "snappy")]
    Snappy = 3,
    #[enum_value(name = "LZ4", nick = "lz4")]
    Lz4 = 4,
    #[enum_value(name = "Zstandard", nick = "zstd")]
    Zstd = 5,
}

impl Compression {
    /// The librdkafka value; `None` to take the environment's.
    pub fn value(self) -> Option<&'static str> {
        match self {
            Compression::Default => None,
            Compression::None => Some("none"),
            Compression::Gzip => Some("gzip"),
            Compression::Snappy => Some("snappy"),
            Compression::Lz4 => Some("lz4"),
            Compression::Zstd => Some("zstd"),
        }
    }
}

glib::wrapper! {
    pub struct FessKafkaSink(ObjectSubclass<imp::FessKafkaSink>) @extends gst_base::BaseSink, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    Acks::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Compression::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "fesskafkasink",
        gst::Rank::NONE,
        FessKafkaSink::static_type(),
    )
}
