//! FESS outside GStreamer: the event schemas, the Kafka [`EventPublisher`] with its on-disk
//! spool, and the `.env` configuration (README, "The contract").
//!
//! [`EventPublisher`]: delivery::publisher::EventPublisher
//!
//! `fesskafkasink` publishes through this very crate, so a program with its own decoder (or no
//! video at all) gets the same events, delivery guarantees and counters.
//!
//! # Publishing events
//!
//! ```
//! use fess::delivery::publisher::EventPublisher;
//! use fess::events::{AlertLevel, BBox, DetectedObject};
//!
//! // Initialize publisher: KAFKA_* from the environment or ./.env (README, "Configuration from `.env`").
//! let publisher = EventPublisher::new()?;
//!
//! // Publish motion event
//! publisher.publish_motion_event(
//!     "cam_01",
//!     1234,
//!     vec![DetectedObject {
//!         class: "person".into(),
//!         confidence: 0.95,
//!         bbox: BBox::new(0.0, 0.0, 100.0, 100.0),
//!         track_id: None,
//!     }],
//!     vec![0.95],
//! )?;
//!
//! // Publish face event
//! publisher.publish_face_event(
//!     "cam_01",
//!     1235,
//!     "face_123",
//!     (10.0, 20.0, 30.0, 40.0),
//!     0.98,
//!     Some("John Doe"),
//!     true,
//! )?;
//!
//! // Publish alert
//! publisher.publish_alert("cam_01", AlertLevel::Critical, "Unauthorized access detected")?;
//!
//! // Close when done: everything is delivered (or spooled, with a spool_dir).
//! publisher.close();
//! let delivered: u64 = publisher.stats().topics.iter().map(|(_, c)| c.success).sum();
//! assert_eq!(delivered, 3);
//! # Ok::<(), fess::delivery::publisher::PublishError>(())
//! ```
//!
//! # Metrics and health
//!
//! [`AppStats`] gives a program counters by label, gauges and latencies, reported to
//! `fess-exporter` under the same names the elements use; [`metrics`] is the catalogue of those
//! names (README, "Metrics"). [`HealthChecker`] is the health check the exporter's `/health`
//! serves (README, "Health status").
//!
//! [`AppStats`]: observability::stats::AppStats
//! [`metrics`]: observability::metrics
//! [`HealthChecker`]: observability::health::HealthChecker
//!
//! # Refusing garbage
//!
//! ```
//! # let publisher = fess::delivery::publisher::EventPublisher::new()?;
//! let err = publisher
//!     .publish_face_event("cam_01", 1, "face_1", (30.0, 20.0, 10.0, 40.0), 0.5, None, false)
//!     .unwrap_err();
//! assert!(err.to_string().contains("x1 <= x2"));
//! # Ok::<(), fess::delivery::publisher::PublishError>(())
//! ```

// Four parts, each a folder: the events (schemas, emission, rules), Kafka delivery (publisher,
// spool, settings), the gallery (Redis link, gallery, URL) and observability (stats, metrics,
// health). Programs import from those folders; nothing is re-exported at the root, so the
// layout is the map.
pub mod analytics;
pub mod delivery;
pub mod dirs;
pub mod env;
pub mod events;
pub mod gallery;
pub mod observability;
pub mod secret_files;
pub mod secrets;
pub mod sync;
