//! The document's `.env` configuration: process environment first, then a `.env` file in the
//! current directory (`KEY=value` lines, `#` comments, optional quotes), as python-dotenv reads it.

use std::collections::HashMap;
use std::sync::OnceLock;

fn dotenv() -> &'static HashMap<String, String> {
    static FILE: OnceLock<HashMap<String, String>> = OnceLock::new();
    FILE.get_or_init(|| {
        std::fs::read_to_string(".env")
            .map(|t| parse_dotenv(&t))
            .unwrap_or_default()
    })
}

/// Parses `.env` text.
pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// `key` from the environment, else from `./.env`; empty values count as unset.
pub fn var(key: &str) -> Option<String> {
    std::env::var(key)
        .ok()
        .or_else(|| dotenv().get(key).cloned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines() {
        let m = parse_dotenv(
            "# Kafka\nKAFKA_BOOTSTRAP_SERVERS=localhost:9092\nexport KAFKA_ACKS = all\nX=\"quoted # not a comment\"\nbad line\n",
        );
        assert_eq!(m["KAFKA_BOOTSTRAP_SERVERS"], "localhost:9092");
        assert_eq!(m["KAFKA_ACKS"], "all");
        assert_eq!(m["X"], "quoted # not a comment");
        assert_eq!(m.len(), 3);
    }
}
