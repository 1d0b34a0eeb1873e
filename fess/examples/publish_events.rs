//! Publishes the three kinds of FESS event from a plain loop, without GStreamer: what a program
//! with its own decoder (or no video at all) does.
//!
//! ```sh
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 cargo run --release -p fess --example publish_events -- 10
//! ```
//! The argument is the number of rounds (default 5); each round publishes one motion, one face
//! and, every third round, one alert naming the face event. Undeliverable events wait in
//! the spool `publish_events` of the state folder (`$FESS_STATE`, else `$XDG_STATE_HOME/fess`,
//! else `~/.local/state/fess`: `spool/publish_events`) and are replayed by the next run.

use std::time::Duration;

use fess::delivery::publisher::EventPublisher;
use fess::events::{AlertLevel, BBox, DetectedObject};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5);
    let publisher = EventPublisher::builder()
        .default_spool("publish_events")
        .build()?;
    for frame in 0..rounds {
        let x = 10.0 + frame as f64 * 5.0;
        let person = DetectedObject {
            class: "person".into(),
            confidence: 0.9,
            bbox: BBox::new(x, 40.0, x + 60.0, 200.0),
            track_id: Some(1),
        };
        let motion = publisher.publish_motion_event("cam_01", frame, vec![person], vec![0.9])?;
        let face = publisher.publish_face_event(
            "cam_01",
            frame,
            "face_1",
            (x + 15.0, 45.0, x + 45.0, 85.0),
            0.93,
            Some("John Doe"),
            frame % 3 != 2,
        )?;
        println!("frame {frame}: motion {motion}, face {face}");
        if frame % 3 == 2 {
            let alert = publisher.publish_alert_for(
                "cam_01",
                AlertLevel::Critical,
                "Unauthorized access detected",
                vec![face],
            )?;
            println!("frame {frame}: alert {alert}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    publisher.close();
    for (topic, c) in publisher.stats().topics {
        println!(
            "{topic}: {} delivered, {} spooled, {} dropped, {} refused",
            c.success, c.spooled, c.dropped, c.error
        );
    }
    Ok(())
}
