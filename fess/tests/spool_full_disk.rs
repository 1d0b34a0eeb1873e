//! The spool on a full disk (a small tmpfs this test mounts: CI runs as root) drops the oldest
//! events, as its size bound does, and keeps the newest.

use fess::delivery::spool::{Append, Record, Spool};
use fess_testkit::Tmpfs;

fn record(i: u32) -> Record {
    Record {
        topic: "motion.detection.events".into(),
        key: b"cam".to_vec(),
        headers: Vec::new(),
        payload: format!("{i:08}").repeat(128).into_bytes(),
    }
}

#[test]
fn a_full_disk_drops_the_oldest_events_and_keeps_the_newest() {
    let disk = Tmpfs::mount("spool-full-disk", "192k");
    // A bound far above the disk: the disk fills first. Segments of 32 KiB.
    let mut spool = Spool::open(&disk.path().join("spool"), 256 << 10).unwrap();
    let (n, mut dropped) = (600u32, 0u64);
    for i in 0..n {
        let (_, d) = spool
            .append(&record(i), Append::Waiting)
            .unwrap_or_else(|e| panic!("record {i} refused on a full disk: {e}"));
        dropped += d.waiting;
    }
    assert!(dropped > 0, "600 KiB never filled a 192 KiB disk?");
    assert_eq!(spool.waiting() + dropped, u64::from(n));
    // What is left is the newest, in order, without a gap or a torn record.
    let seen: Vec<Vec<u8>> = spool
        .take_waiting(usize::MAX)
        .unwrap()
        .iter()
        .map(|(_, r)| r.payload[..8].to_vec())
        .collect();
    assert_eq!(spool.take_damaged(), 0);
    let first = n - seen.len() as u32;
    let want: Vec<Vec<u8>> = (first..n).map(|i| format!("{i:08}").into_bytes()).collect();
    assert_eq!(seen, want);

    // (One test, not two: two tmpfs filled at once in one process have been seen refusing
    // writes after their files were deleted.)
    a_disk_smaller_than_one_segment_still_takes_the_newest();
}

fn a_disk_smaller_than_one_segment_still_takes_the_newest() {
    let disk = Tmpfs::mount("spool-small-disk", "64k");
    // The default bound: one segment would be 32 MiB, far more than the disk.
    let mut spool = Spool::open(&disk.path().join("spool"), 256 << 20).unwrap();
    let (n, mut dropped) = (200u32, 0u64);
    for i in 0..n {
        let (_, d) = spool
            .append(&record(i), Append::Waiting)
            .unwrap_or_else(|e| panic!("record {i} refused on a full disk: {e}"));
        dropped += d.waiting;
    }
    assert!(dropped > 0);
    assert_eq!(spool.waiting() + dropped, u64::from(n));
    let last = spool.take_waiting(usize::MAX).unwrap().pop().unwrap().1;
    assert_eq!(last, record(n - 1));
}
