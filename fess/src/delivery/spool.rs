//! The spool: the publisher's write-ahead log. Every event the publisher accepts is appended here
//! before librdkafka sees it and marked done when the broker acknowledges it, so a process that
//! dies (`kill -9`, the OOM killer, a power cut) loses nothing it accepted: the next publisher
//! opened on the same folder sends again, in order, whatever is not marked done.
//!
//! A spool is a folder of segment files `spool-<seq>.log`, appended to in order, each with a
//! marks file `spool-<seq>.done` listing the offsets of its records the broker acknowledged.
//! A record is `["FESS"][u32 body length][u32 CRC-32 of body][body]`, the body holding the topic,
//! key, headers and payload, all little-endian length-prefixed. A torn or corrupt record (a crash
//! mid-write, a flipped bit) fails its checksum: it is counted and skipped, never sent as
//! garbage, and reading resumes at the next record's marker, so the intact records after it are
//! still sent.
//!
//! Durability: every append is one `write` (it survives the process dying); [`Spool::unsynced`]
//! hands out the files to fsync, which the publisher does every `spool-sync-ms`, so a machine
//! crash loses at most that window. A lost mark only makes an event be sent twice.
//!
//! Bound: a segment goes when every record in it is done; when the spool would exceed its size
//! (or the disk is full), whole oldest segments are deleted and their records that were still
//! waiting counted as dropped; the writer rotates segments at an eighth of the bound.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
    /// The record as the log holds it: marker, body length, CRC-32 of the body, body (built in
    /// one buffer: this runs on the streaming thread for every event).
    fn frame(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(
            HEADER as usize + 32 + self.topic.len() + self.key.len() + self.payload.len(),
        );
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&[0; 8]);
        put_bytes(&mut b, self.topic.as_bytes());
        put_bytes(&mut b, &self.key);
        b.extend_from_slice(&(self.headers.len() as u32).to_le_bytes());
        for (k, v) in &self.headers {
            put_bytes(&mut b, k.as_bytes());
            put_bytes(&mut b, v);
        }
        put_bytes(&mut b, &self.payload);
        let body = HEADER as usize..;
        let (len, crc) = (b[body.clone()].len() as u32, crc32fast::hash(&b[body]));
        b[4..8].copy_from_slice(&len.to_le_bytes());
        b[8..12].copy_from_slice(&crc.to_le_bytes());
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

/// Starts every record, so reading can resume after a damaged one.
const MAGIC: [u8; 4] = *b"FESS";
/// Marker, length and checksum.
const HEADER: u64 = 12;
/// Largest record accepted (a guard against reading a corrupt length as gigabytes).
const MAX_RECORD: usize = 16 << 20;

/// Where a record is: its segment and the offset of its body there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordId {
    seq: u64,
    offset: u64,
}

/// Undelivered records deleted with the oldest segments to make room.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Waiting ones: lost.
    pub waiting: u64,
    /// Ones being sent: no longer on the disk (lost if their delivery then fails).
    pub in_flight: u64,
}

impl std::ops::AddAssign for Dropped {
    fn add_assign(&mut self, o: Dropped) {
        self.waiting += o.waiting;
        self.in_flight += o.in_flight;
    }
}

/// What happens to a record being appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// The caller hands it to librdkafka now.
    Sending,
    /// It waits for [`Spool::take_waiting`] (events queue behind a backlog).
    Waiting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    InFlight,
    Done,
}

#[derive(Debug)]
struct Slot {
    offset: u64,
    len: u32,
    state: State,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
    marks: Option<File>,
    bytes: u64,
    /// In file order.
    slots: Vec<Slot>,
    undone: u64,
    waiting: u64,
    waiting_bytes: u64,
    /// No slot before this one is waiting.
    first_waiting: usize,
}

impl Segment {
    fn new(seq: u64, path: PathBuf) -> Segment {
        Segment {
            seq,
            path,
            marks: None,
            bytes: 0,
            slots: Vec::new(),
            undone: 0,
            waiting: 0,
            waiting_bytes: 0,
            first_waiting: 0,
        }
    }

    fn marks_path(&self) -> PathBuf {
        self.path.with_extension("done")
    }

    fn slot(&mut self, offset: u64) -> Option<(usize, &mut Slot)> {
        let i = self
            .slots
            .binary_search_by_key(&offset, |s| s.offset)
            .ok()?;
        Some((i, &mut self.slots[i]))
    }

    fn delete(&self) -> io::Result<()> {
        remove_file_if_present(&self.marks_path())?;
        remove_file_if_present(&self.path)
    }
}

/// Files whose writes are not yet on the disk; fsync them (outside the spool's lock).
#[derive(Debug, Default)]
pub struct Unsynced {
    pub files: Vec<File>,
}

impl Unsynced {
    pub fn sync(self) -> io::Result<()> {
        self.files.iter().try_for_each(File::sync_data)
    }
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first; the last one is being written when `writer` is set.
    segments: VecDeque<Segment>,
    writer: Option<File>,
    /// Segments sealed since the last [`Spool::unsynced`] (by seq), and whether files were made.
    sealed: Vec<(u64, File)>,
    dir_changed: bool,
    /// fsync every append.
    sync_every: bool,
    next_seq: u64,
    /// Damaged records skipped and not yet reported by [`Spool::take_damaged`].
    damaged: u64,
    /// Held for the spool's life so two publishers never share a folder.
    lock: File,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, picking up the records an earlier run left undone.
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
        let lock = lock_folder(dir).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(
                    e.kind(),
                    format!(
                        "spool {} is in use by another publisher ({e}): two publishers of one \
                         camera, or give each its own spool-dir",
                        dir.display()
                    ),
                )
            } else {
                named(e)
            }
        })?;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(named)? {
            let path = entry.map_err(named)?.path();
            if let Some(seq) = segment_seq(&path) {
                make_private(&path).map_err(named)?;
                found.push((seq, path));
            } else if path.extension().is_some_and(|e| e == "done")
                && !path.with_extension("log").exists()
            {
                remove_file_if_present(&path).map_err(named)?;
            }
        }
        found.sort();
        let next_seq = found.last().map_or(0, |(seq, _)| seq + 1);
        let mut segments = VecDeque::new();
        let mut damaged = 0;
        for (seq, path) in found {
            let (seg, corrupt) = read_segment(seq, path).map_err(named)?;
            damaged += corrupt;
            if seg.undone == 0 {
                seg.delete().map_err(named)?;
            } else {
                segments.push_back(seg);
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(4096),
            segment_bytes: (max_bytes / 8).clamp(4096, 64 << 20),
            segments,
            writer: None,
            sealed: Vec::new(),
            dir_changed: false,
            sync_every: false,
            next_seq,
            damaged,
            lock,
        })
    }

    /// fsync on every append (`spool-sync-ms=0`): nothing is lost even to a power cut, at the
    /// cost of a disk flush per event.
    pub fn sync_every_append(&mut self, on: bool) {
        self.sync_every = on;
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Damaged records skipped (failed their checksum) since the last call.
    pub fn take_damaged(&mut self) -> u64 {
        std::mem::take(&mut self.damaged)
    }

    /// Records not yet acknowledged: waiting or being sent.
    pub fn undone(&self) -> u64 {
        self.segments.iter().map(|s| s.undone).sum()
    }

    /// Records waiting on disk to be sent (again).
    pub fn waiting(&self) -> u64 {
        self.segments.iter().map(|s| s.waiting).sum()
    }

    /// Bytes of the records waiting to be sent.
    pub fn waiting_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.waiting_bytes).sum()
    }

    /// Bytes of the segment files.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Appends `rec`; returns where it is and what had to be dropped for room (whole oldest
    /// segments, when the bound or the disk is reached).
    pub fn append(&mut self, rec: &Record, how: Append) -> io::Result<(RecordId, Dropped)> {
        let frame = rec.frame();
        if frame.len() - HEADER as usize > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "record larger than 16 MiB",
            ));
        }
        let size = frame.len() as u64;
        let mut dropped = Dropped::default();
        while self.bytes() + size > self.max_bytes && !self.segments.is_empty() {
            dropped += self.drop_oldest()?;
        }
        // A full disk drops the oldest events, as the size bound does, not the newest: down to
        // the segment being written, which a new one then replaces. (Making a file can fail on a
        // full disk too.)
        while let Err(e) = self.write_frame(&frame, size) {
            let nothing_left = self.segments.is_empty()
                || self.segments.len() == 1 && self.segments[0].slots.is_empty();
            if e.kind() != io::ErrorKind::StorageFull || nothing_left {
                return Err(e);
            }
            dropped += self.drop_oldest()?;
        }
        let seg = self.segments.back_mut().expect("rotated above");
        let offset = seg.bytes + HEADER;
        let state = match how {
            Append::Sending => State::InFlight,
            Append::Waiting => {
                seg.waiting += 1;
                seg.waiting_bytes += size;
                State::Waiting
            }
        };
        seg.slots.push(Slot {
            offset,
            len: (size - HEADER) as u32,
            state,
        });
        seg.bytes += size;
        seg.undone += 1;
        Ok((
            RecordId {
                seq: seg.seq,
                offset,
            },
            dropped,
        ))
    }

    /// Deletes the oldest segment; returns what of it was not yet delivered.
    fn drop_oldest(&mut self) -> io::Result<Dropped> {
        let old = self.segments.pop_front().expect("not empty");
        if self.segments.is_empty() {
            self.writer = None;
        }
        self.delete(&old)?;
        Ok(Dropped {
            waiting: old.waiting,
            in_flight: old.undone - old.waiting,
        })
    }

    /// Deletes a segment's files, and closes them (an open file keeps its space on the disk).
    fn delete(&mut self, seg: &Segment) -> io::Result<()> {
        self.sealed.retain(|(seq, _)| *seq != seg.seq);
        seg.delete()
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let (Some(w), Some(seg)) = (self.writer.take(), self.segments.back()) {
            self.sealed.push((seg.seq, w));
        }
        if self.segments.back().is_some_and(|s| s.undone == 0) {
            let done = self.segments.pop_back().expect("checked");
            self.delete(&done)?;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = segment_path(&self.dir, seq);
        self.writer = Some(private_file().append(true).open(&path)?);
        self.segments.push_back(Segment::new(seq, path));
        self.dir_changed = true;
        Ok(())
    }

    /// Appends a frame to the segment being written (a new one when it is full); a failed write
    /// is cut off again, so no torn record hides the ones appended after it.
    fn write_frame(&mut self, frame: &[u8], size: u64) -> io::Result<()> {
        let full = self
            .segments
            .back()
            .is_none_or(|s| s.bytes + size > self.segment_bytes);
        if self.writer.is_none() || full {
            self.rotate()?;
        }
        let written = self.segments.back().map_or(0, |s| s.bytes);
        let writer = self.writer.as_mut().expect("opened above");
        writer.write_all(frame).inspect_err(|_| {
            let _ = writer.set_len(written);
        })?;
        if self.sync_every {
            writer.sync_data()?;
        }
        Ok(())
    }

    /// The broker acknowledged (or refused for good) the record: it is never sent again.
    /// Returns false when its segment was already dropped.
    pub fn done(&mut self, id: RecordId) -> bool {
        let active = match self.writer {
            Some(_) => self.segments.back().map(|s| s.seq),
            None => None,
        };
        let Some(pos) = self.segments.iter().position(|s| s.seq == id.seq) else {
            return false;
        };
        let seg = &mut self.segments[pos];
        let Some((_, slot)) = seg.slot(id.offset) else {
            return false;
        };
        let was = std::mem::replace(&mut slot.state, State::Done);
        let size = HEADER + u64::from(slot.len);
        match was {
            State::Done => return true,
            State::Waiting => {
                seg.waiting -= 1;
                seg.waiting_bytes -= size;
            }
            State::InFlight => {}
        }
        seg.undone -= 1;
        // A lost mark only means the record is sent again after a crash: no need to stop here.
        let marks_path = seg.marks_path();
        if seg.marks.is_none() {
            seg.marks = private_file().append(true).open(marks_path).ok();
        }
        if let Some(m) = &mut seg.marks {
            let _ = m.write_all(&id.offset.to_le_bytes());
        }
        if seg.undone == 0 && active != Some(seg.seq) {
            let seg = self.segments.remove(pos).expect("found");
            let _ = self.delete(&seg);
        }
        true
    }

    /// Sending the record failed: it waits to be sent again. Returns false when its segment was
    /// already dropped (the event is lost).
    pub fn retry(&mut self, id: RecordId) -> bool {
        let Some(seg) = self.segments.iter_mut().find(|s| s.seq == id.seq) else {
            return false;
        };
        let Some((i, slot)) = seg.slot(id.offset) else {
            return false;
        };
        if slot.state == State::InFlight {
            slot.state = State::Waiting;
            let size = HEADER + u64::from(slot.len);
            seg.waiting += 1;
            seg.waiting_bytes += size;
            seg.first_waiting = seg.first_waiting.min(i);
        }
        true
    }

    /// Up to `max` waiting records, oldest first, now counted as being sent.
    pub fn take_waiting(&mut self, max: usize) -> io::Result<Vec<(RecordId, Record)>> {
        let mut out = Vec::new();
        for seg in self.segments.iter_mut().filter(|s| s.waiting > 0) {
            let file = File::open(&seg.path)?;
            let mut i = seg.first_waiting;
            while i < seg.slots.len() && out.len() < max && seg.waiting > 0 {
                let slot = &mut seg.slots[i];
                i += 1;
                if slot.state != State::Waiting {
                    continue;
                }
                let mut body = vec![0; slot.len as usize];
                file.read_exact_at(&mut body, slot.offset)?;
                seg.waiting -= 1;
                seg.waiting_bytes -= HEADER + u64::from(slot.len);
                // Checked when it was read at open or written by this process: a record that
                // fails now was damaged on the disk since; it is skipped like one found at open.
                let Some(rec) = Record::decode(&body) else {
                    slot.state = State::Done;
                    seg.undone -= 1;
                    self.damaged += 1;
                    continue;
                };
                slot.state = State::InFlight;
                out.push((
                    RecordId {
                        seq: seg.seq,
                        offset: slot.offset,
                    },
                    rec,
                ));
            }
            seg.first_waiting = i;
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Whether the spool's folder is still the one it locked. When it was deleted (or replaced)
    /// under the running publisher, the folder is made again and the records it held are given
    /// up: returns how many waited and how many were being sent, which have no copy any more.
    pub fn check_folder(&mut self) -> io::Result<Option<Dropped>> {
        let ours = self.lock.metadata()?;
        let same = std::fs::metadata(self.dir.join("lock"))
            .is_ok_and(|m| m.dev() == ours.dev() && m.ino() == ours.ino());
        if same {
            return Ok(None);
        }
        let mut lost = Dropped::default();
        for seg in self.segments.drain(..) {
            lost += Dropped {
                waiting: seg.waiting,
                in_flight: seg.undone - seg.waiting,
            };
        }
        self.writer = None;
        self.sealed.clear();
        self.dir_changed = false;
        self.lock = lock_folder(&self.dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("spool folder {}: {e}", self.dir.display()),
            )
        })?;
        Ok(Some(lost))
    }

    /// The files whose writes may not be on the disk yet (fsync them outside the lock).
    pub fn unsynced(&mut self) -> io::Result<Unsynced> {
        let mut files: Vec<File> = self.sealed.drain(..).map(|(_, f)| f).collect();
        if let Some(w) = &self.writer {
            files.push(w.try_clone()?);
        }
        if std::mem::take(&mut self.dir_changed) {
            files.push(File::open(&self.dir)?);
        }
        Ok(Unsynced { files })
    }
}

fn remove_file_if_present(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The segment file of sequence number `seq` in `dir`.
fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("spool-{seq:020}.log"))
}

/// The sequence number of a segment file's path, if it is one.
fn segment_seq(path: &Path) -> Option<u64> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("spool-"))
        .and_then(|n| n.strip_suffix(".log"))
        .and_then(|n| n.parse::<u64>().ok())
}

/// The segment files of `dir`, oldest first.
fn segments_in(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if let Some(seq) = segment_seq(&path) {
            found.push((seq, path));
        }
    }
    found.sort();
    Ok(found)
}

/// Where the spool named `name` (a camera id, a program's name) is when nobody chose its
/// folder: `spool/<name>` in the state folder ([`crate::dirs::state_dir`]), with anything but
/// ASCII letters, digits, `-`, `_` and `.` in `name` as `_`.
pub fn default_dir(name: &str) -> PathBuf {
    crate::dirs::state_dir()
        .join("spool")
        .join(folder_name(name))
}

/// Where [`default_dir`] was before spools moved from the cache (which may be wiped) to the
/// state folder: `spool/<name>` in [`crate::dirs::cache_dir`]. [`adopt`] picks up what an
/// older version left there.
pub fn former_default_dir(name: &str) -> PathBuf {
    crate::dirs::cache_dir()
        .join("spool")
        .join(folder_name(name))
}

fn folder_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // "." and ".." would name the parent: keep them inside.
    if safe.chars().all(|c| c == '.') {
        safe.replace('.', "_")
    } else {
        safe
    }
}

/// Moves the segments of the spool in `old` into the spool in `dir`, after those `dir` holds,
/// and removes `old`: what a former version left in another folder is sent by the next
/// publisher of `dir`, once. Both folders are locked while it runs, so a publisher still
/// working in `old` keeps it (the error says so). Returns how many segments moved; a missing
/// `old` moves none.
pub fn adopt(old: &Path, dir: &Path) -> io::Result<usize> {
    // One folder under two names (the state folder set to the cache, as a container may do):
    // nothing to move.
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if !old.is_dir() || same(old, dir) {
        return Ok(0);
    }
    let named = |p: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("spool folder {}: {e}", p.display()))
    };
    let old_lock = lock_folder(old).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                e.kind(),
                format!("spool {} is in use by a publisher", old.display()),
            )
        } else {
            named(old, e)
        }
    })?;
    let lock = lock_folder(dir).map_err(|e| named(dir, e))?;
    let first = segments_in(dir)
        .map_err(|e| named(dir, e))?
        .last()
        .map_or(0, |(seq, _)| seq + 1);
    let mut moved = 0;
    for (seq, (_, from)) in (first..).zip(segments_in(old).map_err(|e| named(old, e))?) {
        let to = segment_path(dir, seq);
        // The log first: stopped between the two, the marks are lost and their records sent
        // twice, never lost.
        move_file(&from, &to)?;
        make_private(&to)?;
        let marks = from.with_extension("done");
        if marks.exists() {
            move_file(&marks, &to.with_extension("done"))?;
        }
        moved += 1;
    }
    drop((old_lock, lock));
    remove_file_if_present(&old.join("lock")).map_err(|e| named(old, e))?;
    // Anything else someone put there stays, with the folder.
    let _ = std::fs::remove_dir(old);
    Ok(moved)
}

/// Renames `from` to `to`, copying (and syncing) when they are on different file systems.
fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    let named = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("moving {} to {}: {e}", from.display(), to.display()),
        )
    };
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            std::fs::copy(from, to).map_err(named)?;
            File::open(to).and_then(|f| f.sync_all()).map_err(named)?;
            std::fs::remove_file(from).map_err(named)
        }
        r => r.map_err(named),
    }
}

/// Options creating a file only its owner can read: spooled events name persons.
fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.create(true).mode(0o600);
    o
}

/// Makes an existing file or folder private to its owner (a spool left by an older version, or
/// a folder made by hand, may be readable by all).
fn make_private(path: &Path) -> io::Result<()> {
    let mode = if path.is_dir() { 0o700 } else { 0o600 };
    let perms = std::fs::metadata(path)?.permissions();
    if perms.mode() & 0o777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Creates `dir` (and its missing parents) private to the user, and takes its lock file.
fn lock_folder(dir: &Path) -> io::Result<File> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    make_private(dir)?;
    let lock = private_file()
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    lock_exclusive(&lock)?;
    Ok(lock)
}

fn lock_exclusive(f: &File) -> io::Result<()> {
    f.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => io::Error::new(io::ErrorKind::WouldBlock, "locked"),
        std::fs::TryLockError::Error(e) => e,
    })
}

/// A segment file with its marks, and how many of its records were torn or corrupt.
fn read_segment(seq: u64, path: PathBuf) -> io::Result<(Segment, u64)> {
    let mut data = Vec::new();
    File::open(&path)?.read_to_end(&mut data)?;
    let mut seg = Segment::new(seq, path);
    let (bodies, corrupt) = parse(&data);
    let mut marks = Vec::new();
    match File::open(seg.marks_path()) {
        Ok(mut f) => {
            f.read_to_end(&mut marks)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut done: Vec<u64> = marks
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    done.sort_unstable();
    for (offset, len) in bodies {
        let size = HEADER + len as u64;
        let state = if done.binary_search(&offset).is_ok() {
            State::Done
        } else {
            seg.undone += 1;
            seg.waiting += 1;
            seg.waiting_bytes += size;
            State::Waiting
        };
        seg.slots.push(Slot {
            offset,
            len: len as u32,
            state,
        });
    }
    seg.bytes = data.len() as u64;
    Ok((seg, corrupt))
}

/// The intact records of a segment (offset and length of each body) and how many damaged ones
/// were skipped. After damage, reading resumes at the next record marker whose record checks.
fn parse(data: &[u8]) -> (Vec<(u64, usize)>, u64) {
    let mut bodies = Vec::new();
    let mut corrupt = 0;
    let mut at = 0;
    while at < data.len() {
        match check_frame(data, at) {
            Some(len) => {
                bodies.push((at as u64 + HEADER, len));
                at += HEADER as usize + len;
            }
            None => {
                corrupt += 1;
                // The next marker that starts an intact record, if any.
                let next = (at + 1..data.len().saturating_sub(3))
                    .filter(|&i| data[i..].starts_with(&MAGIC))
                    .find(|&i| check_frame(data, i).is_some());
                match next {
                    Some(i) => at = i,
                    None => break,
                }
            }
        }
    }
    (bodies, corrupt)
}

/// The body length of the intact record at `at`, if it is one.
fn check_frame(data: &[u8], at: usize) -> Option<usize> {
    let mut b = data.get(at..)?;
    let magic = b.split_first_chunk::<4>()?.0;
    if *magic != MAGIC {
        return None;
    }
    b = &b[4..];
    let len = take_u32(&mut b)? as usize;
    let crc = take_u32(&mut b)?;
    let body = b.get(..len).filter(|_| len <= MAX_RECORD)?;
    (crc32fast::hash(body) == crc && Record::decode(body).is_some()).then_some(len)
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

    fn all_waiting(s: &mut Spool) -> Vec<Record> {
        s.take_waiting(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    fn segment_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|e| e == "log")
            })
            .count()
    }

    #[test]
    fn what_was_not_acknowledged_comes_back_in_order_after_a_crash() {
        let dir = tmp("order");
        {
            let mut s = Spool::open(&dir, 1 << 20).unwrap();
            let ids: Vec<RecordId> = (0..100)
                .map(|i| s.append(&rec(i), Append::Sending).unwrap().0)
                .collect();
            for id in ids.iter().step_by(2) {
                assert!(s.done(*id));
            }
            assert_eq!((s.undone(), s.waiting()), (50, 0));
            // Dropped without closing: as a killed process leaves it.
        }
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!((s.undone(), s.waiting()), (50, 50));
        let odd: Vec<Record> = (0..100).filter(|i| i % 2 == 1).map(rec).collect();
        let taken = s.take_waiting(usize::MAX).unwrap();
        assert_eq!(
            taken.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            odd
        );
        assert_eq!((s.undone(), s.waiting()), (50, 0));
        // A failed send waits again, and is taken again in its place.
        assert!(s.retry(taken[3].0));
        assert!(s.retry(taken[1].0));
        assert_eq!(all_waiting(&mut s), vec![odd[1].clone(), odd[3].clone()]);
        for (id, _) in taken {
            assert!(s.done(id));
        }
        assert_eq!(s.undone(), 0);
        drop(s);
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(s.undone(), 0);
        assert_eq!(segment_files(&dir), 0, "a segment all done is deleted");
        s.append(&rec(100), Append::Waiting).unwrap();
        assert_eq!(all_waiting(&mut s), vec![rec(100)]);
    }

    #[test]
    fn acknowledged_segments_are_deleted_as_the_writer_moves_on() {
        let dir = tmp("compact");
        let mut s = Spool::open(&dir, 64 << 10).unwrap();
        for i in 0..2000 {
            let (id, dropped) = s.append(&rec(i), Append::Sending).unwrap();
            assert_eq!(dropped, Dropped::default());
            assert!(s.done(id));
        }
        assert!(segment_files(&dir) <= 2, "{}", segment_files(&dir));
        assert!(s.bytes() <= 8 << 10, "{}", s.bytes());
    }

    #[test]
    fn full_spool_drops_the_oldest_waiting_and_counts_them() {
        let dir = tmp("full");
        let mut s = Spool::open(&dir, 8192).unwrap();
        let mut dropped = 0;
        for i in 0..1000 {
            dropped += s.append(&rec(i), Append::Waiting).unwrap().1.waiting;
        }
        assert!(s.bytes() <= 8192, "{}", s.bytes());
        assert!(dropped > 0);
        assert_eq!(dropped + s.waiting(), 1000);
        // What is left is the newest, still in order.
        let left = all_waiting(&mut s);
        let expect: Vec<Record> = (1000 - left.len()..1000).map(rec).collect();
        assert_eq!(left, expect);
    }

    /// Flips one byte of the file at `at` (from the end when negative).
    fn damage(dir: &Path, at: i64) {
        let seg = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
            .unwrap();
        let mut data = std::fs::read(&seg).unwrap();
        let i = if at < 0 { data.len() as i64 + at } else { at } as usize;
        data[i] ^= 0x5a;
        std::fs::write(&seg, data).unwrap();
    }

    #[test]
    fn damaged_records_are_counted_and_skipped_and_the_rest_still_sent() {
        let frame = |i| rec(i).frame().len();
        for (what, at) in [
            ("a flipped byte in a body", frame(0) + 20),
            ("a flipped length", frame(0) + 5),
            ("a flipped marker", frame(0)),
        ] {
            let dir = tmp("damaged");
            {
                let mut s = Spool::open(&dir, 1 << 20).unwrap();
                for i in 0..5 {
                    s.append(&rec(i), Append::Waiting).unwrap();
                }
            }
            damage(&dir, at as i64);
            let mut s = Spool::open(&dir, 1 << 20).unwrap();
            assert_eq!(s.take_damaged(), 1, "{what}");
            assert_eq!(
                all_waiting(&mut s),
                vec![rec(0), rec(2), rec(3), rec(4)],
                "{what}"
            );
        }
        // A torn tail: the last record cut short.
        let dir = tmp("torn");
        {
            let mut s = Spool::open(&dir, 1 << 20).unwrap();
            for i in 0..3 {
                s.append(&rec(i), Append::Waiting).unwrap();
            }
        }
        let seg = dir.join(format!("spool-{:020}.log", 0));
        let len = std::fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(s.take_damaged(), 1);
        assert_eq!(all_waiting(&mut s), vec![rec(0), rec(1)]);
    }

    #[test]
    fn a_former_spool_is_adopted_once_behind_what_the_new_one_holds() {
        let (old, new) = (tmp("adopt-old"), tmp("adopt-new"));
        {
            let mut s = Spool::open(&old, 1 << 20).unwrap();
            let ids: Vec<RecordId> = (0..3)
                .map(|i| s.append(&rec(i), Append::Sending).unwrap().0)
                .collect();
            assert!(s.done(ids[1]));
        }
        {
            let mut s = Spool::open(&new, 1 << 20).unwrap();
            s.append(&rec(10), Append::Sending).unwrap();
        }
        // A publisher still at work in the old folder keeps it.
        {
            let _running = Spool::open(&old, 1 << 20).unwrap();
            let e = adopt(&old, &new).unwrap_err();
            assert!(e.to_string().contains("in use by a publisher"), "{e}");
        }
        assert_eq!(adopt(&old, &new).unwrap(), 1);
        assert!(!old.exists(), "the former folder is removed");
        assert_eq!(adopt(&old, &new).unwrap(), 0, "once");
        assert_eq!(
            adopt(&new, &new.join("../").join(new.file_name().unwrap())).unwrap(),
            0
        );
        let mut s = Spool::open(&new, 1 << 20).unwrap();
        assert_eq!(all_waiting(&mut s), vec![rec(10), rec(0), rec(2)]);
        assert_eq!(mode(&new), 0o700);
    }

    #[test]
    fn default_folders_keep_names_inside_their_parent() {
        let d = default_dir("rtsp://cam/a b");
        assert_eq!(d.file_name().unwrap(), "rtsp___cam_a_b");
        assert_eq!(d.parent().unwrap(), crate::dirs::state_dir().join("spool"));
        assert_eq!(default_dir("..").file_name().unwrap(), "__");
        assert_eq!(
            former_default_dir("cam_01"),
            crate::dirs::cache_dir().join("spool/cam_01")
        );
    }

    #[test]
    fn one_publisher_per_folder() {
        let dir = tmp("lock");
        let _a = Spool::open(&dir, 1 << 20).unwrap();
        let e = Spool::open(&dir, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("in use by another publisher"), "{e}");
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn spool_folder_and_files_are_private_to_the_user() {
        let dir = tmp("private").join("made/by/the/spool");
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        let (id, _) = s.append(&rec(0), Append::Sending).unwrap();
        s.append(&rec(1), Append::Sending).unwrap();
        assert!(s.done(id));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(
            mode(dir.parent().unwrap()),
            0o700,
            "a folder it made for it"
        );
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 3, "lock, segment, marks: {files:?}");
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        // A spool left readable by an older version is made private when opened.
        drop(s);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for f in &files {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let _s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let segment = files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "log"));
        assert_eq!(mode(segment.unwrap()), 0o600);
    }

    #[test]
    fn a_folder_deleted_under_the_spool_is_made_again_and_its_records_counted_lost() {
        let dir = tmp("deleted");
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(s.check_folder().unwrap(), None);
        for i in 0..35 {
            s.append(&rec(i), Append::Waiting).unwrap();
        }
        s.append(&rec(35), Append::Sending).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            s.check_folder().unwrap(),
            Some(Dropped {
                waiting: 35,
                in_flight: 1
            })
        );
        assert_eq!(s.waiting(), 0);
        assert!(dir.join("lock").is_file());
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(s.check_folder().unwrap(), None, "noticed once");
        // The new folder takes new records, and is still one publisher's.
        s.append(&rec(36), Append::Waiting).unwrap();
        assert_eq!(all_waiting(&mut s), vec![rec(36)]);
        assert!(Spool::open(&dir, 1 << 20).is_err());
    }
}
