//! FESS outside GStreamer: the event schemas, the Kafka [`EventPublisher`] with its on-disk
//! spool, and the `.env` configuration of the user's document.
//!
//! `fesskafkasink` publishes through this very crate, so a program with its own decoder (or no
//! video at all) gets the same events, delivery guarantees and counters.

pub mod emission;
pub mod env;
pub mod events;
pub mod kafka_config;
pub mod publisher;
pub mod rules;
pub mod spool;

pub use events::{
    AlertEvent, AlertLevel, BBox, DetectedObject, Event, EventError, EventKind, FaceEvent,
    MotionEvent,
};
pub use kafka_config::KafkaSettings;
pub use publisher::{
    EventPublisher, PublishError, PublisherBuilder, PublisherStats, Severity, TopicCounts,
};
