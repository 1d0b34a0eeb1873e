//! Clips of exactly N frames, for tests that count frames. `identity eos-after=N` was seen to
//! end a stream a frame early, or under load not at all; a file that holds N frames ends by
//! itself after exactly N, in any pipeline, gst-launch-1.0 included.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

/// Waits for `pipeline`'s EOS: `Err` with the message of an error it posts first, or when
/// `timeout` passes.
pub fn wait_eos(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), String> {
    let bus = pipeline.bus().expect("a pipeline has a bus");
    for msg in bus.iter_timed(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64)) {
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => return Err(format!("{} ({:?})", e.error(), e.debug())),
            _ => {}
        }
    }
    Err(format!("no EOS within {timeout:?}"))
}

/// The first `frames` frames of `source` (a test media file), losslessly re-encoded (FFV1 in
/// Matroska), so they decode to the very pixels the original decodes to. Made once per test
/// process and kept in its temporary folder.
pub fn clip(source: &Path, frames: u32) -> PathBuf {
    static MADE: Mutex<Option<HashMap<(PathBuf, u32), PathBuf>>> = Mutex::new(None);
    let mut made = MADE.lock().unwrap();
    let made = made.get_or_insert_with(HashMap::new);
    let key = (source.to_path_buf(), frames);
    if let Some(path) = made.get(&key) {
        return path.clone();
    }
    let stem = source.file_stem().unwrap_or_default().to_string_lossy();
    let path = std::env::temp_dir().join(format!(
        "fess-clip-{}-{stem}-{frames}.mkv",
        std::process::id()
    ));
    write_clip(source, frames, &path);
    made.insert(key, path.clone());
    path
}

fn write_clip(source: &Path, frames: u32, out: &Path) {
    gst::init().expect("GStreamer initialises");
    let launch = format!(
        "filesrc location=\"{}\" ! decodebin ! identity name=limit ! videoconvert ! \
         video/x-raw,format=I420 ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
        source.display(),
        out.display()
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let limit = pipeline.by_name("limit").unwrap();
    let src = limit.static_pad("src").unwrap();
    // The Nth buffer passes; the next one is dropped and EOS sent in its place; later ones are
    // dropped.
    let passed = Arc::new(AtomicU32::new(0));
    let counted = passed.clone();
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        let n = passed.fetch_add(1, Ordering::SeqCst);
        if n < frames {
            return gst::PadProbeReturn::Ok;
        }
        if n == frames {
            pad.push_event(gst::event::Eos::new());
        }
        gst::PadProbeReturn::Drop
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut result = wait_eos(&pipeline, Duration::from_secs(120));
    pipeline.set_state(gst::State::Null).unwrap();
    let seen = counted.load(Ordering::SeqCst);
    if result.is_ok() && seen < frames {
        result = Err(format!("the source has only {seen} frames"));
    }
    if let Err(e) = result {
        panic!("making a {frames}-frame clip of {}: {e}", source.display());
    }
}
