//! Secrets kept in files rather than on command lines, in properties or in the environment:
//! systemd credentials (`LoadCredential=`, found in `$CREDENTIALS_DIRECTORY`) and Kubernetes
//! secrets mounted as volumes. One rule for every setting that takes one (README, "Secure
//! Kafka: TLS, SASL and secrets").

use std::io::Read;
use std::path::{Path, PathBuf};

/// Where a relative secret file is looked for: systemd's `LoadCredential=` folder.
pub const CREDENTIALS_VAR: &str = "CREDENTIALS_DIRECTORY";
/// A secret file larger than this is refused rather than read (a key or token is far smaller).
pub const MAX_SECRET_FILE: u64 = 1 << 20;

/// `path` as given, or in `$CREDENTIALS_DIRECTORY` when it is relative and systemd set it.
pub fn resolve(path: &str) -> PathBuf {
    let p = Path::new(path);
    match std::env::var_os(CREDENTIALS_VAR) {
        Some(dir) if p.is_relative() => Path::new(&dir).join(p),
        _ => p.to_path_buf(),
    }
}

/// The secret in file `path` ([`resolve`]d): its text without one trailing newline. A missing,
/// huge or binary file is refused with a reason that names the file, never its content.
pub fn read(path: &str) -> Result<String, String> {
    let path = resolve(path);
    read_text(&path).map_err(|why| format!("cannot read {}: {why}", path.display()))
}

fn read_text(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(format!("larger than {MAX_SECRET_FILE} bytes"));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}
