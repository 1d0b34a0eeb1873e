//! The spool on a full disk (a small tmpfs this test mounts: CI runs as root) drops the oldest
//! events, as its size bound does, and keeps the newest.

use std::path::{Path, PathBuf};
use std::process::Command;

use fess::spool::{Record, Spool};

/// A tmpfs of `size` mounted for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let dir = fess_testkit::tmp_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {} (the test needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
        let pushed = spool
            .push(&record(i))
            .unwrap_or_else(|e| panic!("record {i} refused on a full disk: {e}"));
        dropped += pushed.dropped;
    }
    assert!(dropped > 0, "600 KiB never filled a 192 KiB disk?");
    assert_eq!(spool.records() + dropped, u64::from(n));
    // What is left is the newest, in order, without a gap or a torn record.
    let mut seen = Vec::new();
    while let Some(batch) = spool.oldest().unwrap() {
        assert_eq!(batch.corrupt, 0);
        seen.extend(batch.records.iter().map(|r| r.payload[..8].to_vec()));
        spool.remove(batch.seq).unwrap();
    }
    let first = n - seen.len() as u32;
    let want: Vec<Vec<u8>> = (first..n).map(|i| format!("{i:08}").into_bytes()).collect();
    assert_eq!(seen, want);
}
