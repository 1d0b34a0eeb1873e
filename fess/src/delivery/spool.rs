//! The on-disk spool: events that could not be delivered wait here, in order, until the broker
//! takes them, also across restarts of the pipeline.
//!
//! A spool is a folder of segment files `spool-<seq>.log`, appended to in order. Each record is
//! `[u32 body length][u32 CRC-32 of body][body]`, the body holding the topic, key, headers and
//! payload, all little-endian length-prefixed. A torn or corrupt record (a crash mid-write) ends
//! its segment's readable part; it is counted and skipped, never replayed as garbage.
//!
//! Durability: every append is written to the file at once (it survives the process dying);
//! [`Spool::sync`] fsyncs, which the publisher does about once a second and on close, so a
//! machine crash loses at most the last second of spooled events.
//!
//! Bound: when the spool would exceed its size, whole oldest segments are deleted and their
//! records counted as dropped; the writer rotates segments at an eighth of the bound, so at most
//! that share is lost at a time.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// One message as it will be produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: String,
    pub key: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(32 + self.topic.len() + self.key.len() + self.payload.len());
        put_bytes(&mut b, self.topic.as_bytes());
        put_bytes(&mut b, &self.key);
        b.extend_from_slice(&(self.headers.len() as u32).to_le_bytes());
        for (k, v) in &self.headers {
            put_bytes(&mut b, k.as_bytes());
            put_bytes(&mut b, v);
        }
        put_bytes(&mut b, &self.payload);
        b
    }

    fn decode(mut b: &[u8]) -> Option<Record> {
        let topic = String::from_utf8(take_bytes(&mut b)?.to_vec()).ok()?;
        let key = take_bytes(&mut b)?.to_vec();
        let n = take_u32(&mut b)? as usize;
        let mut headers = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let k = String::from_utf8(take_bytes(&mut b)?.to_vec()).ok()?;
            headers.push((k, take_bytes(&mut b)?.to_vec()));
        }
        let payload = take_bytes(&mut b)?.to_vec();
        b.is_empty().then_some(Record {
            topic,
            key,
            headers,
            payload,
        })
    }

    /// Bytes this record takes on disk.
    fn disk_size(body_len: usize) -> u64 {
        8 + body_len as u64
    }
}

fn put_bytes(b: &mut Vec<u8>, v: &[u8]) {
    b.extend_from_slice(&(v.len() as u32).to_le_bytes());
    b.extend_from_slice(v);
}

fn take_u32(b: &mut &[u8]) -> Option<u32> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    *b = rest;
    Some(u32::from_le_bytes(*head))
}

fn take_bytes<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = take_u32(b)? as usize;
    if b.len() < n {
        return None;
    }
    let (v, rest) = b.split_at(n);
    *b = rest;
    Some(v)
}

/// Largest record accepted (a guard against reading a corrupt length as gigabytes).
const MAX_RECORD: usize = 16 << 20;

#[derive(Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
    bytes: u64,
    records: u64,
}

/// What [`Spool::push`] had to do to make room.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// Records deleted with the oldest segments.
    pub dropped: u64,
}

/// A sealed segment handed out for replay; delete it with [`Spool::remove`] once delivered.
#[derive(Debug)]
pub struct Batch {
    pub seq: u64,
    pub records: Vec<Record>,
    /// Records that were torn or failed their checksum.
    pub corrupt: u64,
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first; the last one is being written when `writer` is set.
    segments: VecDeque<Segment>,
    writer: Option<File>,
    next_seq: u64,
    /// Held for the spool's life so two publishers never share a folder.
    _lock: File,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, picking up segments left by an earlier run.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        // Every error names the folder: "File exists" alone does not say which.
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("spool folder {}: {e}", dir.display()));
        if dir.exists() && !dir.is_dir() {
            return Err(named(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it is a file, not a folder",
            )));
        }
        std::fs::create_dir_all(dir).map_err(named)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(named)?;
        lock_exclusive(&lock).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "spool {} is in use by another publisher ({e}); give each its own spool-dir",
                    dir.display()
                ),
            )
        })?;
        let mut segments: Vec<Segment> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(named)? {
            let path = entry.map_err(named)?.path();
            let seq = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("spool-"))
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(seq) = seq {
                let bytes = std::fs::metadata(&path).map_err(named)?.len();
                let records = count_records(&path).map_err(named)?;
                segments.push(Segment {
                    seq,
                    path,
                    bytes,
                    records,
                });
            }
        }
        segments.sort_by_key(|s| s.seq);
        let next_seq = segments.last().map_or(0, |s| s.seq + 1);
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(4096),
            segment_bytes: (max_bytes / 8).clamp(4096, 64 << 20),
            segments: segments.into(),
            writer: None,
            next_seq,
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_empty(&self) -> bool {
        self.records() == 0
    }

    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Appends `rec`, deleting the oldest segments first when the spool would grow past its bound.
    pub fn push(&mut self, rec: &Record) -> io::Result<Pushed> {
        let body = rec.encode();
        if body.len() > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "record larger than 16 MiB",
            ));
        }
        let size = Record::disk_size(body.len());
        let mut pushed = Pushed::default();
        while self.bytes() + size > self.max_bytes && !self.segments.is_empty() {
            // Never delete the segment being written while it is the only one: seal it first.
            if self.segments.len() == 1 && self.writer.is_some() {
                self.writer = None;
            }
            let old = self.segments.pop_front().expect("not empty");
            if self.segments.is_empty() {
                self.writer = None;
            }
            pushed.dropped += old.records;
            remove_file_if_present(&old.path)?;
        }
        let rotate = self
            .segments
            .back()
            .is_none_or(|s| s.bytes + size > self.segment_bytes);
        if self.writer.is_none() || rotate {
            let seq = self.next_seq;
            self.next_seq += 1;
            let path = self.dir.join(format!("spool-{seq:020}.log"));
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            self.writer = Some(file);
            self.segments.push_back(Segment {
                seq,
                path,
                bytes: 0,
                records: 0,
            });
        }
        let mut frame = Vec::with_capacity(body.len() + 8);
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        // A full disk drops the oldest events, as the size bound does, not the newest.
        while let Err(e) = self.append(&frame) {
            if e.kind() != io::ErrorKind::StorageFull || self.segments.len() < 2 {
                return Err(e);
            }
            let old = self.segments.pop_front().expect("two or more");
            pushed.dropped += old.records;
            remove_file_if_present(&old.path)?;
        }
        let seg = self.segments.back_mut().expect("pushed above");
        seg.bytes += size;
        seg.records += 1;
        Ok(pushed)
    }

    /// Appends a framed record to the segment being written; a failed write is cut off again,
    /// so no torn record hides the ones appended after it.
    fn append(&mut self, frame: &[u8]) -> io::Result<()> {
        let written = self.segments.back().map_or(0, |s| s.bytes);
        let writer = self.writer.as_mut().expect("opened above");
        writer.write_all(frame).inspect_err(|_| {
            let _ = writer.set_len(written);
        })
    }

    /// Flushes written records to the disk.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(w) = &self.writer {
            w.sync_data()?;
        }
        Ok(())
    }

    /// Reads the oldest segment for replay, sealing it if it is being written.
    pub fn oldest(&mut self) -> io::Result<Option<Batch>> {
        if self.segments.len() == 1 && self.writer.is_some() {
            self.sync()?;
            self.writer = None;
        }
        let Some(seg) = self.segments.front() else {
            return Ok(None);
        };
        let (records, corrupt) = read_segment(&seg.path)?;
        Ok(Some(Batch {
            seq: seg.seq,
            records,
            corrupt,
        }))
    }

    /// Deletes a replayed segment.
    pub fn remove(&mut self, seq: u64) -> io::Result<()> {
        if let Some(i) = self.segments.iter().position(|s| s.seq == seq) {
            let seg = self.segments.remove(i).expect("found");
            if self.segments.is_empty() {
                self.writer = None;
            }
            remove_file_if_present(&seg.path)?;
        }
        Ok(())
    }
}

fn remove_file_if_present(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn lock_exclusive(f: &File) -> io::Result<()> {
    f.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => io::Error::new(io::ErrorKind::WouldBlock, "locked"),
        std::fs::TryLockError::Error(e) => e,
    })
}

/// Records of a segment file, and how many were torn or corrupt.
fn read_segment(path: &Path) -> io::Result<(Vec<Record>, u64)> {
    let mut data = Vec::new();
    BufReader::new(File::open(path)?).read_to_end(&mut data)?;
    let mut records = Vec::new();
    let mut corrupt = 0;
    let mut b: &[u8] = &data;
    while !b.is_empty() {
        let (Some(len), Some(crc)) = (take_u32(&mut b), take_u32(&mut b)) else {
            corrupt += 1;
            break;
        };
        let len = len as usize;
        if len > MAX_RECORD || b.len() < len {
            corrupt += 1;
            break;
        }
        let (body, rest) = b.split_at(len);
        b = rest;
        match (crc32fast::hash(body) == crc)
            .then(|| Record::decode(body))
            .flatten()
        {
            Some(r) => records.push(r),
            None => corrupt += 1,
        }
    }
    Ok((records, corrupt))
}

fn count_records(path: &Path) -> io::Result<u64> {
    let (records, corrupt) = read_segment(path)?;
    Ok(records.len() as u64 + corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize) -> Record {
        Record {
            topic: "motion.detection.events".into(),
            key: b"cam_01".to_vec(),
            headers: vec![("event_id".into(), format!("e{i}").into_bytes())],
            payload: format!("{{\"n\":{i}}}").into_bytes(),
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fess-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn records_come_back_in_order_after_reopening() {
        let dir = tmp("order");
        {
            let mut s = Spool::open(&dir, 1 << 20).unwrap();
            for i in 0..100 {
                s.push(&rec(i)).unwrap();
            }
            s.sync().unwrap();
            assert_eq!(s.records(), 100);
        }
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(s.records(), 100);
        let mut seen = Vec::new();
        while let Some(b) = s.oldest().unwrap() {
            assert_eq!(b.corrupt, 0);
            seen.extend(b.records);
            s.remove(b.seq).unwrap();
        }
        assert_eq!(seen, (0..100).map(rec).collect::<Vec<_>>());
        assert!(s.is_empty());
        s.push(&rec(100)).unwrap();
        assert_eq!(s.oldest().unwrap().unwrap().records, vec![rec(100)]);
    }

    #[test]
    fn full_spool_drops_the_oldest_and_counts_them() {
        let dir = tmp("full");
        let mut s = Spool::open(&dir, 8192).unwrap();
        let mut dropped = 0;
        for i in 0..1000 {
            dropped += s.push(&rec(i)).unwrap().dropped;
        }
        assert!(s.bytes() <= 8192, "{}", s.bytes());
        assert!(dropped > 0);
        assert_eq!(dropped + s.records(), 1000);
        // What is left is the newest, still in order.
        let mut left = Vec::new();
        while let Some(b) = s.oldest().unwrap() {
            left.extend(b.records);
            s.remove(b.seq).unwrap();
        }
        let expect: Vec<Record> = (1000 - left.len()..1000).map(rec).collect();
        assert_eq!(left, expect);
    }

    #[test]
    fn a_torn_tail_is_counted_not_replayed() {
        let dir = tmp("torn");
        {
            let mut s = Spool::open(&dir, 1 << 20).unwrap();
            for i in 0..3 {
                s.push(&rec(i)).unwrap();
            }
        }
        let seg = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
            .unwrap();
        let len = std::fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        let b = s.oldest().unwrap().unwrap();
        assert_eq!(b.records, vec![rec(0), rec(1)]);
        assert_eq!(b.corrupt, 1);
    }

    #[test]
    fn one_publisher_per_folder() {
        let dir = tmp("lock");
        let _a = Spool::open(&dir, 1 << 20).unwrap();
        let e = Spool::open(&dir, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("in use by another publisher"), "{e}");
    }
}
