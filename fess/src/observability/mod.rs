//! Observability: the stats protocol the elements and programs report on ([`stats`]), the one
//! catalogue of metric names ([`metrics`]) and the health checks ([`health`]).

pub mod health;
pub mod metrics;
pub mod stats;
