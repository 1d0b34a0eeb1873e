//! Where FESS keeps things, one rule for the elements, the command, the tests and the scripts
//! (`scripts/lib.sh` says the same in shell):
//! - the cache holds what the setup fetches and builds (models, media, ONNX Runtime, the broker):
//!   anything in it can be fetched again, so users and tools may wipe it;
//! - the state holds what must survive: the spools of events not yet delivered.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

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
    dir_from(fess_cache, xdg_cache_home, home, Path::new(".cache"))
}

/// `FESS_STATE`, else `$XDG_STATE_HOME/fess`, else `~/.local/state/fess` (empty values count as
/// unset).
pub fn state_dir() -> PathBuf {
    state_dir_from(
        std::env::var_os("FESS_STATE"),
        std::env::var_os("XDG_STATE_HOME"),
        std::env::var_os("HOME"),
    )
}

/// The rule of [`state_dir`] on given values of `FESS_STATE`, `XDG_STATE_HOME` and `HOME`.
pub fn state_dir_from(
    fess_state: Option<OsString>,
    xdg_state_home: Option<OsString>,
    home: Option<OsString>,
) -> PathBuf {
    dir_from(fess_state, xdg_state_home, home, Path::new(".local/state"))
}

/// Our own variable, else the XDG base directory's `fess`, else `$HOME/<below_home>/fess`.
fn dir_from(
    own: Option<OsString>,
    xdg: Option<OsString>,
    home: Option<OsString>,
    below_home: &Path,
) -> PathBuf {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(own) {
        return dir;
    }
    if let Some(dir) = set(xdg) {
        return dir.join("fess");
    }
    set(home)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(below_home)
        .join("fess")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn fess_cache_then_xdg_then_home() {
        let rule = |f, x, h| cache_dir_from(v(f), v(x), v(h));
        assert_eq!(rule("/c", "/x", "/h"), PathBuf::from("/c"));
        assert_eq!(rule("", "/x", "/h"), PathBuf::from("/x/fess"));
        assert_eq!(rule("", "", "/h"), PathBuf::from("/h/.cache/fess"));
        assert_eq!(
            cache_dir_from(None, None, None),
            PathBuf::from("/root/.cache/fess")
        );
    }

    #[test]
    fn fess_state_then_xdg_then_home() {
        let rule = |f, x, h| state_dir_from(v(f), v(x), v(h));
        assert_eq!(rule("/s", "/x", "/h"), PathBuf::from("/s"));
        assert_eq!(rule("", "/x", "/h"), PathBuf::from("/x/fess"));
        assert_eq!(rule("", "", "/h"), PathBuf::from("/h/.local/state/fess"));
        assert_eq!(
            state_dir_from(None, None, None),
            PathBuf::from("/root/.local/state/fess")
        );
    }
}
