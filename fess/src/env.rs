//! The `.env` configuration (README, "Configuration from `.env`"): process environment first,
//! then a `.env` file in the
//! current directory, read by dotenvy as python-dotenv reads it (single and double quotes, `#`
//! comments after values, `\n` `\"` `\\` `\$` escapes in double quotes, multi-line quoted
//! values, `export`, `${VAR}`), without changing the process environment.

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

/// Parses `.env` text; lines that are not `KEY=value` are skipped, as python-dotenv does.
pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    dotenvy::from_read_iter(text.as_bytes())
        .filter_map(Result::ok)
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
            "# Kafka\nKAFKA_BOOTSTRAP_SERVERS=localhost:9092\nexport KAFKA_ACKS=all\nX=\"quoted # not a comment\"\nbad line\n",
        );
        assert_eq!(m["KAFKA_BOOTSTRAP_SERVERS"], "localhost:9092");
        assert_eq!(m["KAFKA_ACKS"], "all");
        assert_eq!(m["X"], "quoted # not a comment");
        assert!(!m.contains_key("bad line"));
    }

    #[test]
    fn dotenv_as_python_dotenv_reads_it() {
        let m = parse_dotenv(concat!(
            "LINGER=10 # milliseconds\n",
            "SINGLE='literal \\n $HOME'\n",
            "DOUBLE=\"say \\\"hi\\\"\\nnext\"\n",
            "MULTI=\"first line\nsecond line\"\n",
            "EMPTY=\n",
            "BASE=kafka\n",
            "URL=${BASE}:9092\n",
        ));
        assert_eq!(m["LINGER"], "10");
        assert_eq!(m["SINGLE"], "literal \\n $HOME");
        assert_eq!(m["DOUBLE"], "say \"hi\"\nnext");
        assert_eq!(m["MULTI"], "first line\nsecond line");
        assert_eq!(m["EMPTY"], "");
        assert_eq!(m["URL"], "kafka:9092");
        // Nothing reached the process environment.
        assert!(std::env::var("LINGER").is_err());
    }
}
