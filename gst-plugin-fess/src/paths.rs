//! Where the setup script leaves models and the ONNX Runtime library.
//!
//! `FESS_CACHE` (default `$XDG_CACHE_HOME/fess`, else `~/.cache/fess`) holds `models/` and
//! `onnxruntime/`; `FESS_MODELS` overrides the models folder and `ORT_DYLIB_PATH` the library.

use std::path::PathBuf;

pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("FESS_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("fess");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache").join("fess")
}

pub fn models_dir() -> PathBuf {
    match std::env::var_os("FESS_MODELS").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => cache_dir().join("models"),
    }
}

/// The ONNX Runtime shared library: `ORT_DYLIB_PATH`, else the newest `libonnxruntime.so*` the
/// setup put in the cache, else the system's `libonnxruntime.so.1` (found by the loader).
pub fn onnxruntime_library() -> PathBuf {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let dir = cache_dir().join("onnxruntime");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| PathBuf::from("libonnxruntime.so.1"))
}
