//! Kafka delivery: the [`publisher`] every event goes through, its on-disk [`spool`] and the
//! client settings ([`kafka_config`]) and why a client cannot get in ([`client_errors`]).

pub mod client_errors;
pub mod kafka_config;
pub mod publisher;
pub mod spool;
