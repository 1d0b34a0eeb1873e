//! URLs with their secrets taken out, for every place a URL is shown (logs, errors, health) or
//! becomes a name (a camera id derived from a source URI ends up in events, Kafka keys, metric
//! labels and spool files).
//!
//! The rule is syntactic and errs on the side of hiding: user information is everything up to
//! the last `@`, whatever characters it holds (a password may contain `/`, `?` or `#` that
//! should have been percent-encoded), and a query or fragment is never shown, since drivers read
//! passwords from them too (`redis+unix:///run/redis.sock?pass=…`). When the two readings
//! disagree (an `@` inside a query), nothing after the scheme is shown.

/// A URL cut into what may be shown and what may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    /// Whether user information (`user:password@`) was present; it is never kept.
    pub had_userinfo: bool,
    /// Host, port and path: nothing secret.
    pub location: &'a str,
    /// The query (after `?`), if any: may hold secrets.
    pub query: Option<&'a str>,
    /// The fragment (after `#`), if any.
    pub fragment: Option<&'a str>,
}

/// `url` cut into its parts, or `None` when it is not `scheme://…` or when where the user
/// information ends is ambiguous (then nothing of it can be shown safely).
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return None;
    }
    let (had_userinfo, rest) = match rest.rfind('@') {
        // An '@' after a '?' or '#' may sit in a query or fragment, which may hold a secret
        // whose tail would then be shown as the host.
        Some(at) if rest[..at].contains(['?', '#']) => return None,
        Some(at) => (true, &rest[at + 1..]),
        None => (false, rest),
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (location, query) = match rest.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (rest, None),
    };
    Some(UrlParts {
        scheme,
        had_userinfo,
        location,
        query,
        fragment,
    })
}

/// `url` for logs, errors and health: user information shown as `***@`, a query as `?***`, a
/// fragment as `#***` unless it is one of `shown_fragments` (e.g. Redis's `#insecure`, which says
/// something a reader must see). Text that is not a `scheme://…` URL is hidden whole: a typo may
/// still hold a password.
pub fn redact_url(url: &str, shown_fragments: &[&str]) -> String {
    let Some(p) = split_url(url) else {
        return match url.split_once("://") {
            Some((scheme, _)) if split_url(&format!("{scheme}://")).is_some() => {
                format!("{scheme}://*** (not shown: its credentials cannot be told apart)")
            }
            _ => "*** (not a URL)".to_string(),
        };
    };
    let mut shown = format!("{}://", p.scheme);
    if p.had_userinfo {
        shown.push_str("***@");
    }
    shown.push_str(p.location);
    if p.query.is_some() {
        shown.push_str("?***");
    }
    match p.fragment {
        Some(f) if shown_fragments.contains(&f) => {
            shown.push('#');
            shown.push_str(f);
        }
        Some(_) => shown.push_str("#***"),
        None => {}
    }
    shown
}

/// A camera id from a source URI: scheme, host, port and path, never user information, query or
/// fragment (`rtsp://admin:pw@cam.example/stream?token=t` → `rtsp://cam.example/stream`). `None`
/// when the URI has no such part that can be shown safely.
pub fn camera_id_from_uri(uri: &str) -> Option<String> {
    let p = split_url(uri)?;
    if p.location.is_empty() {
        return None;
    }
    Some(format!("{}://{}", p.scheme, p.location))
}

/// `text` (an error message, a log line) with every secret of `url` taken out: the URL itself
/// shown as [`redact_url`] shows it, its user information, password, query and fragment
/// wherever they appear alone (an element may quote just the host part, or the password in a
/// decoded form).
pub fn mask_url_in(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url, &[]));
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
        return out;
    };
    let mut secrets: Vec<String> = Vec::new();
    if let Some(at) = rest.rfind('@') {
        let userinfo = &rest[..at];
        secrets.push(userinfo.to_string());
        if let Some((_, password)) = userinfo.split_once(':') {
            secrets.push(password.to_string());
        }
    }
    if let Some(p) = split_url(url) {
        secrets.extend(p.query.map(str::to_string));
        secrets.extend(p.fragment.map(str::to_string));
    }
    let decoded: Vec<String> = secrets.iter().map(|s| percent_decoded(s)).collect();
    secrets.extend(decoded);
    // Longest first, so a password inside the user information goes with it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

/// `s` with `%XX` escapes decoded (bytes that do not make UTF-8 are kept as they were).
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_urls_secrets_are_masked_wherever_a_message_quotes_them() {
        let url = "rtsp://viewer:p%40ss:w0rd@cam.example:554/s?token=t0k3n";
        let text = format!(
            "Could not open {url}; auth viewer:p%40ss:w0rd failed; password p@ss:w0rd; token=t0k3n"
        );
        let masked = mask_url_in(&text, url);
        for secret in ["p%40ss", "p@ss", "w0rd", "t0k3n", "viewer:"] {
            assert!(!masked.contains(secret), "{secret} in {masked}");
        }
        assert!(
            masked.contains("rtsp://***@cam.example:554/s?***"),
            "{masked}"
        );
        assert_eq!(mask_url_in("fine", "rtsp://cam/s"), "fine");
    }

    #[test]
    fn urls_are_shown_without_credentials_queries_or_fragments() {
        let cases = [
            (
                "redis://:s3cret@10.0.0.1:6379/0",
                "redis://***@10.0.0.1:6379/0",
            ),
            (
                "rediss://user:p@ss@cache.example:6380/",
                "rediss://***@cache.example:6380/",
            ),
            ("redis://:pa/ss@host:6379/", "redis://***@host:6379/"),
            ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/"),
            (
                "redis+unix:///run/redis.sock?pass=s3cret&db=1",
                "redis+unix:///run/redis.sock?***",
            ),
            (
                "unix:///run/redis.sock?db=0#insecure",
                "unix:///run/redis.sock?***#insecure",
            ),
            ("rediss://h:6380/#s3cret", "rediss://h:6380/#***"),
            (
                "redis+unix:///run/r.sock?pass=se@cret",
                "redis+unix://*** (not shown: its credentials cannot be told apart)",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url, &["insecure"]), shown, "{url}");
        }
        for bad in [
            "not a url",
            "redis//:pw@host:6379/",
            "redis:/:pw@host/",
            "://:pw@host/",
        ] {
            assert_eq!(redact_url(bad, &[]), "*** (not a URL)", "{bad}");
        }
    }

    #[test]
    fn camera_ids_from_uris_carry_no_credentials() {
        let cases = [
            (
                "rtsp://admin:SECRET@10.0.0.7/cam",
                Some("rtsp://10.0.0.7/cam"),
            ),
            (
                "rtsp://cam.example:8554/s?token=SECRET",
                Some("rtsp://cam.example:8554/s"),
            ),
            ("file:///data/vtest.avi", Some("file:///data/vtest.avi")),
            ("v4l2:///dev/video0", Some("v4l2:///dev/video0")),
            ("rtsp://u:p@", None),
            ("no uri", None),
        ];
        for (uri, id) in cases {
            assert_eq!(camera_id_from_uri(uri).as_deref(), id, "{uri}");
        }
    }

    /// A secret whose every other character is an upper-case letter that no template below
    /// holds, so any two characters of it that are shown include one of those letters.
    fn secret() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            (
                proptest::sample::select(b"QXJKVWZ".to_vec()),
                proptest::sample::select(b"QXJKVWZ/?#@:;&=%+ .!$".to_vec()),
            ),
            2..12,
        )
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .flat_map(|(a, b)| [a as char, b as char])
                .collect()
        })
    }

    fn shows_any_of_it(shown: &str) -> bool {
        shown.contains(|c: char| "QXJKVWZ".contains(c))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn no_secret_survives_in_any_position(s in secret(), form in 0usize..10) {
            let url = match form {
                0 => format!("redis://:{s}@cache.local:6379/0"),
                1 => format!("rediss://user:{s}@cache.local:6380/"),
                2 => format!("redis://{s}@cache.local/"),
                3 => format!("redis+unix:///run/redis.sock?pass={s}"),
                4 => format!("unix:///run/redis.sock?db=1&password={s}&user=fess"),
                5 => format!("rediss://cache.local:6380/?pass={s}#insecure"),
                6 => format!("rtsp://admin:{s}@cam.local:554/stream"),
                7 => format!("rtsp://cam.local/stream?token={s}"),
                8 => format!("redis://cache.local:6379/#{s}"),
                _ => format!("redis+unix://:{s}@/run/redis.sock?db=0"),
            };
            let shown = redact_url(&url, &["insecure"]);
            prop_assert!(!shows_any_of_it(&shown), "{url} shown as {shown}");
            if let Some(id) = camera_id_from_uri(&url) {
                prop_assert!(!shows_any_of_it(&id), "{url} named {id}");
            }
        }
    }
}
