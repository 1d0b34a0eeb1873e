//! The Redis address: `REDIS_URL` (environment or `.env`),
//! `redis://`, `rediss://` (TLS) or `unix://`, with an optional password that is never shown.

/// Where Redis is when nobody says: the local default port.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// `url` with its credentials hidden (see [`crate::secrets::redact_url`]), for logs, errors and
/// health; `#insecure` (certificate checks off) stays visible.
pub fn redact(url: &str) -> String {
    crate::secrets::redact_url(url, &["insecure"])
}
