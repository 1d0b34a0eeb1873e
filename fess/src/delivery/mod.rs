//! Kafka delivery: the [`publisher`] every event goes through, its on-disk [`spool`] and the
//! producer settings ([`kafka_config`]).

pub mod kafka_config;
pub mod publisher;
pub mod spool;
