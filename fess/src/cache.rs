//! Where FESS keeps what the setup fetches and builds (models, media, ONNX Runtime, the broker):
//! one rule for the elements, the command, the tests and the scripts (`scripts/lib.sh` says the
//! same in shell).

use std::ffi::OsString;
use std::path::PathBuf;

/// `FESS_CACHE`, else `$XDG_CACHE_HOME/fess`, else `~/.cache/fess` (empty values count as unset).
pub fn cache_dir() -> PathBuf {
    cache_dir_from(
        std::env::var_os("FESS_CACHE"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

/// The rule of [`cache_dir`] on given values of `FESS_CACHE`, `XDG_CACHE_HOME` and `HOME`.
pub fn cache_dir_from(
    fess_cache: Option<OsString>,
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> PathBuf {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(fess_cache) {
        return dir;
    }
    if let Some(dir) = set(xdg_cache_home) {
        return dir.join("fess");
    }
    set(home)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".cache")
        .join("fess")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(fess: &str, xdg: &str, home: &str) -> PathBuf {
        let v = |s: &str| Some(OsString::from(s));
        cache_dir_from(v(fess), v(xdg), v(home))
    }

    #[test]
    fn fess_cache_then_xdg_then_home() {
        assert_eq!(rule("/c", "/x", "/h"), PathBuf::from("/c"));
        assert_eq!(rule("", "/x", "/h"), PathBuf::from("/x/fess"));
        assert_eq!(rule("", "", "/h"), PathBuf::from("/h/.cache/fess"));
        assert_eq!(
            cache_dir_from(None, None, None),
            PathBuf::from("/root/.cache/fess")
        );
    }
}
