//! Where the setup script leaves models and the ONNX Runtime library.
//!
//! `FESS_CACHE` (default `$XDG_CACHE_HOME/fess`, else `~/.cache/fess`) holds `models/` and
//! `onnxruntime/`; `FESS_MODELS` overrides the models folder and `ORT_DYLIB_PATH` the library.

use std::path::{Path, PathBuf};

use fess::dirs::cache_dir;

pub fn models_dir() -> PathBuf {
    match std::env::var_os("FESS_MODELS").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => cache_dir().join("models"),
    }
}

/// The face models the setup bundles (fessface's defaults), in the model folder.
pub const FACE_DETECTOR_FILE: &str = "retinaface_mnet025.onnx";
pub const FACE_EMBEDDER_FILE: &str = "mobilefacenet.onnx";

/// A model property: the file it names, or `default_file` in the model folder when unset.
pub fn model_file(value: Option<&str>, default_file: &str) -> PathBuf {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => models_dir().join(default_file),
    }
}

/// Where the ONNX Runtime shared library was looked for, and the one chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSearch {
    pub library: PathBuf,
    /// Each place tried, in order, with what was found there: for an error that says where
    /// the runtime was looked for.
    pub looked: Vec<String>,
}

/// The system loader's name for the runtime, when neither `ORT_DYLIB_PATH` nor the cache has it.
const SYSTEM_ONNXRUNTIME: &str = "libonnxruntime.so.1";

/// The ONNX Runtime shared library: `ORT_DYLIB_PATH`, else the newest `libonnxruntime.so*` the
/// setup put in the cache, else the system's `libonnxruntime.so.1` (found by the loader).
pub fn onnxruntime_library() -> RuntimeSearch {
    search_runtime(std::env::var_os("ORT_DYLIB_PATH"), &cache_dir())
}

fn search_runtime(ort_dylib_path: Option<std::ffi::OsString>, cache: &Path) -> RuntimeSearch {
    if let Some(p) = ort_dylib_path.filter(|p| !p.is_empty()) {
        let library = PathBuf::from(p);
        return RuntimeSearch {
            looked: vec![format!("ORT_DYLIB_PATH={}", library.display())],
            library,
        };
    }
    let mut looked = vec!["ORT_DYLIB_PATH (unset)".to_string()];
    let dir = cache.join("onnxruntime");
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
    if let Some(library) = found.pop() {
        looked.push(library.display().to_string());
        return RuntimeSearch { library, looked };
    }
    looked.push(format!("{} (no libonnxruntime.so*)", dir.display()));
    looked.push(format!("the system's {SYSTEM_ONNXRUNTIME}"));
    RuntimeSearch {
        library: PathBuf::from(SYSTEM_ONNXRUNTIME),
        looked,
    }
}

/// The detection models the setup bundles: the short name a `model` property takes, and the file
/// in the model folder.
pub const BUNDLED_DETECTORS: [(&str, &str); 3] = [
    ("yolox-nano", "yolox_nano.onnx"),
    ("centernet", "centernet.onnx"),
    ("ssdlite-person", "ssdlite_person.onnx"),
];

/// The bundled detector used when `model` is unset.
pub const DEFAULT_DETECTOR: &str = "yolox-nano";

/// The file a detector `model` property means: a bundled model's short name, a path, or when
/// unset the default bundled model. A bare word that is neither a bundled name nor an existing
/// file is refused, naming the bundled models.
pub fn detector_model(value: Option<&str>) -> Result<PathBuf, UnknownModel> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let name = value.unwrap_or(DEFAULT_DETECTOR);
    if let Some((_, file)) = BUNDLED_DETECTORS.iter().find(|(n, _)| *n == name) {
        return Ok(models_dir().join(file));
    }
    let path = PathBuf::from(name);
    let looks_like_path = name.contains('/') || name.ends_with(".onnx") || path.exists();
    if looks_like_path {
        Ok(path)
    } else {
        Err(UnknownModel {
            name: name.to_string(),
        })
    }
}

/// A `model` value that names neither a bundled model nor a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model '{name}' is neither a bundled model ({bundled}) nor a file", bundled = bundled_names())]
pub struct UnknownModel {
    pub name: String,
}

fn bundled_names() -> String {
    let names: Vec<&str> = BUNDLED_DETECTORS.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_search_says_where_it_looked() {
        let cache = std::env::temp_dir().join(format!("fess-ort-search-{}", std::process::id()));
        std::fs::create_dir_all(cache.join("onnxruntime")).unwrap();
        let empty = search_runtime(None, &cache);
        assert_eq!(empty.library, PathBuf::from(SYSTEM_ONNXRUNTIME));
        assert_eq!(empty.looked.len(), 3, "{:?}", empty.looked);
        assert!(
            empty.looked[1].contains("fess-ort-search"),
            "{:?}",
            empty.looked
        );
        assert_eq!(search_runtime(Some("".into()), &cache), empty);
        for v in ["1.31.0", "1.32.0"] {
            std::fs::write(
                cache.join(format!("onnxruntime/libonnxruntime.so.{v}")),
                b"",
            )
            .unwrap();
        }
        let cached = search_runtime(None, &cache);
        assert!(
            cached.library.ends_with("libonnxruntime.so.1.32.0"),
            "{cached:?}"
        );
        let named = search_runtime(Some("/opt/ort/libonnxruntime.so".into()), &cache);
        assert_eq!(named.library, PathBuf::from("/opt/ort/libonnxruntime.so"));
        assert_eq!(named.looked, ["ORT_DYLIB_PATH=/opt/ort/libonnxruntime.so"]);
        std::fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn detector_model_takes_bundled_names_and_paths() {
        let bundled = detector_model(Some("yolox-nano")).unwrap();
        assert_eq!(bundled, models_dir().join("yolox_nano.onnx"));
        assert_eq!(
            detector_model(None).unwrap(),
            models_dir().join(format!("{}.onnx", DEFAULT_DETECTOR.replace('-', "_")))
        );
        assert_eq!(
            detector_model(Some("my/model.onnx")).unwrap(),
            PathBuf::from("my/model.onnx")
        );
        assert_eq!(
            detector_model(Some("custom.onnx")).unwrap(),
            PathBuf::from("custom.onnx")
        );
        let e = detector_model(Some("no-such-name"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'no-such-name'") && e.contains("yolox-nano, centernet, ssdlite-person"),
            "{e}"
        );
    }
}
