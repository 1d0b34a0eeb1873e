//! The Redis address of the document's `RedisCache`: `REDIS_URL` (environment or `.env`),
//! `redis://`, `rediss://` (TLS) or `unix://`, with an optional password that is never shown.

/// Where Redis is when nobody says: the local default port.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// `REDIS_URL` from the environment or `./.env`, else [`DEFAULT_REDIS_URL`].
pub fn from_env() -> String {
    crate::env::var("REDIS_URL").unwrap_or_else(|| DEFAULT_REDIS_URL.to_string())
}

/// `url` with any password (and user name) replaced by `***`, for logs, errors and health.
/// Text that is not a `scheme://…` URL is hidden whole: a typo may still hold a password.
pub fn redact(url: &str) -> String {
    let parsed = url.split_once("://").filter(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    let Some((scheme, rest)) = parsed else {
        return "*** (not a URL)".to_string();
    };
    // Credentials end at the last '@' before the path.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(
            redact("redis://:s3cret@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(
            redact("rediss://user:p@ss@cache.example:6380/"),
            "rediss://***@cache.example:6380/"
        );
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        // Unparsable: hidden whole, whatever it holds.
        for bad in [
            "not a url",
            "redis//:pw@host:6379/",
            "redis:/:pw@host/",
            "://:pw@host/",
        ] {
            assert_eq!(redact(bad), "*** (not a URL)", "{bad}");
        }
    }
}
