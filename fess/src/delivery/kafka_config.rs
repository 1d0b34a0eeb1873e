//! Kafka client settings: the `.env` variables (README, "Configuration from `.env`") as
//! defaults, every librdkafka property passed through (`FESS_KAFKA_CONFIG`, then a program's own
//! `kafka-config`), secrets read from files, all checked before anything connects. Every
//! producer, consumer and check FESS makes is configured here, so they all accept the same
//! settings (README, "Secure Kafka").

use std::fmt;

use rdkafka::ClientConfig;

use crate::env;

pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "localhost:9092";
pub const DEFAULT_TOPIC_MOTION: &str = "motion.detection.events";
pub const DEFAULT_TOPIC_FACES: &str = "face.recognition.events";
pub const DEFAULT_TOPIC_ALERTS: &str = "alert.events";
pub const DEFAULT_ACKS: &str = "1";
pub const DEFAULT_COMPRESSION: &str = "snappy";
pub const DEFAULT_LINGER_MS: u32 = 10;
pub const DEFAULT_BATCH_SIZE: u32 = 16384;
pub const COMPRESSIONS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
/// `kafka-config` text for every FESS program; a program's own `kafka-config` (element
/// property, flag) comes after it, so its values win.
pub const CONFIG_VAR: &str = "FESS_KAFKA_CONFIG";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: '{value}' is not valid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// The three topics events go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub motion: String,
    pub faces: String,
    pub alerts: String,
}

impl Topics {
    pub fn all(&self) -> [&str; 3] {
        [&self.motion, &self.faces, &self.alerts]
    }
}

/// Everything the producer needs; `Debug` and `Display` hide secrets.
#[derive(Clone, PartialEq)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub topics: Topics,
    pub acks: String,
    pub compression: String,
    pub linger_ms: u32,
    pub batch_size: u32,
    pub client_id: String,
    /// Further librdkafka properties (`security.protocol`, `sasl.*`, `ssl.*`, …), in order.
    pub extra: Vec<(String, String)>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            bootstrap_servers: DEFAULT_BOOTSTRAP_SERVERS.into(),
            topics: Topics {
                motion: DEFAULT_TOPIC_MOTION.into(),
                faces: DEFAULT_TOPIC_FACES.into(),
                alerts: DEFAULT_TOPIC_ALERTS.into(),
            },
            acks: DEFAULT_ACKS.into(),
            compression: DEFAULT_COMPRESSION.into(),
            linger_ms: DEFAULT_LINGER_MS,
            batch_size: DEFAULT_BATCH_SIZE,
            client_id: "fess".into(),
            extra: Vec::new(),
        }
    }
}

impl KafkaSettings {
    /// The defaults of README "Configuration from `.env`" overridden by `KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_TOPIC_MOTION`,
    /// `KAFKA_TOPIC_FACES`, `KAFKA_TOPIC_ALERTS`, `KAFKA_ACKS`, `KAFKA_COMPRESSION`,
    /// `KAFKA_LINGER_MS` and `KAFKA_BATCH_SIZE` from the environment or `./.env`, with the
    /// librdkafka properties of `FESS_KAFKA_CONFIG`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut s = KafkaSettings::default();
        if let Some(text) = env::var(CONFIG_VAR) {
            s.extra =
                parse_extra(&text).map_err(|ConfigError::Invalid { value, reason, .. }| {
                    ConfigError::Invalid {
                        name: CONFIG_VAR.into(),
                        value,
                        reason,
                    }
                })?;
        }
        let str_var = |k: &str, into: &mut String| {
            if let Some(v) = env::var(k) {
                *into = v;
            }
        };
        str_var("KAFKA_BOOTSTRAP_SERVERS", &mut s.bootstrap_servers);
        str_var("KAFKA_TOPIC_MOTION", &mut s.topics.motion);
        str_var("KAFKA_TOPIC_FACES", &mut s.topics.faces);
        str_var("KAFKA_TOPIC_ALERTS", &mut s.topics.alerts);
        str_var("KAFKA_ACKS", &mut s.acks);
        str_var("KAFKA_COMPRESSION", &mut s.compression);
        for (k, into) in [
            ("KAFKA_LINGER_MS", &mut s.linger_ms),
            ("KAFKA_BATCH_SIZE", &mut s.batch_size),
        ] {
            if let Some(v) = env::var(k) {
                *into = v
                    .trim()
                    .parse()
                    .map_err(|_| invalid(k, &v, "expected a whole number"))?;
            }
        }
        s.validate()?;
        Ok(s)
    }

    /// Checks every value; librdkafka checks the `extra` property names when the producer is made.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_bootstrap(&self.bootstrap_servers)?;
        if !["0", "1", "-1", "all"].contains(&self.acks.as_str()) {
            return Err(invalid("acks", &self.acks, "expected 0, 1 or all"));
        }
        if !COMPRESSIONS.contains(&self.compression.as_str()) {
            return Err(invalid(
                "compression",
                &self.compression,
                format!("expected one of {}", COMPRESSIONS.join(", ")),
            ));
        }
        for (name, t) in [
            ("topic-motion", &self.topics.motion),
            ("topic-faces", &self.topics.faces),
            ("topic-alerts", &self.topics.alerts),
        ] {
            validate_topic(name, t)?;
        }
        Ok(())
    }

    /// The librdkafka properties, our choices first so `extra` can override any of them.
    pub fn client_properties(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("bootstrap.servers".into(), self.bootstrap_servers.clone()),
            ("client.id".into(), self.client_id.clone()),
            ("acks".into(), self.acks.clone()),
            ("compression.type".into(), self.compression.clone()),
            ("linger.ms".into(), self.linger_ms.to_string()),
            ("batch.size".into(), self.batch_size.to_string()),
        ];
        // With acks=all, the idempotent producer keeps librdkafka's own retries from
        // duplicating or reordering events (it needs acks=all; a kafka-config setting wins).
        if self.idempotent() && !self.extra.iter().any(|(k, _)| k == "enable.idempotence") {
            p.push(("enable.idempotence".into(), "true".into()));
        }
        p.extend(self.extra.iter().cloned());
        p
    }

    /// The producer's librdkafka configuration ([`client_properties`](Self::client_properties)),
    /// `@file` values read ([`resolve_value`]).
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        config_of(self.client_properties())
    }

    /// What a consumer or a check needs to reach the brokers as the producer does: the
    /// brokers, the client id and the `kafka-config` properties (security, timeouts), without
    /// the producer's own settings, which a consumer would warn about.
    pub fn connection_config(&self) -> Result<ClientConfig, ConfigError> {
        let mut p = vec![
            (
                "bootstrap.servers".to_string(),
                self.bootstrap_servers.clone(),
            ),
            ("client.id".to_string(), self.client_id.clone()),
        ];
        p.extend(self.extra.iter().cloned());
        config_of(p)
    }

    /// The secret values these settings resolve to (passwords, keys, tokens; files read), so
    /// that a log line repeating one can be caught ([`redact`]).
    pub fn secret_values(&self) -> Vec<String> {
        self.extra
            .iter()
            .filter(|(k, _)| is_secret(k))
            .filter_map(|(k, v)| resolve_value(k, v).ok())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Whether the producer is idempotent: on with acks=all unless kafka-config turns it off.
    pub fn idempotent(&self) -> bool {
        match self
            .extra
            .iter()
            .rev()
            .find(|(k, _)| k == "enable.idempotence")
        {
            Some((_, v)) => v == "true",
            None => matches!(self.acks.as_str(), "all" | "-1"),
        }
    }
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// `key=value, …` with secret values replaced by `***`.
impl fmt::Display for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let props: Vec<String> = self
            .client_properties()
            .iter()
            .map(|(k, v)| format!("{k}={}", if is_secret(k) { "***" } else { v }))
            .collect();
        write!(
            f,
            "{} (topics {}, {}, {})",
            props.join(", "),
            self.topics.motion,
            self.topics.faces,
            self.topics.alerts
        )
    }
}

/// Property names whose values are never shown: the known secret ones, and anything that looks
/// like one (a misspelt `sasl.pasword` is still a password).
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "pass",
        "pasw",
        "word",
        "pwd",
        "secret",
        "sasl.jaas",
        "oauthbearer",
        "key",
        "token",
        "cred",
        "private",
        "auth",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// A librdkafka error for a log or an error message: a configuration error names the property;
/// librdkafka's own text, which repeats the value, is shown only for a property that is not
/// secret.
pub fn client_error(e: &rdkafka::error::KafkaError) -> String {
    match e {
        rdkafka::error::KafkaError::ClientConfig(_, _, key, _) if is_secret(key) => {
            format!("Kafka client configuration: the value of {key} is not valid (not shown)")
        }
        rdkafka::error::KafkaError::ClientConfig(_, desc, key, _) => {
            format!("Kafka client configuration: {desc} (property {key})")
        }
        other => other.to_string(),
    }
}

/// A librdkafka configuration of `props`, every `@file` value read.
fn config_of(props: Vec<(String, String)>) -> Result<ClientConfig, ConfigError> {
    let mut cfg = ClientConfig::new();
    for (k, v) in props {
        let v = resolve_value(&k, &v)?;
        cfg.set(k, v);
    }
    Ok(cfg)
}

/// A value as librdkafka gets it: `@path` is the content of that file, one trailing newline
/// dropped ([`crate::secret_files`]), so a password, key or token can come from a systemd
/// credential or a Kubernetes secret instead of a command line. `\@` starts a value with a
/// literal `@`.
pub fn resolve_value(key: &str, value: &str) -> Result<String, ConfigError> {
    if let Some(rest) = value.strip_prefix("\\@") {
        return Ok(format!("@{rest}"));
    }
    let Some(path) = value.strip_prefix('@') else {
        return Ok(value.to_string());
    };
    crate::secret_files::read(path).map_err(|why| invalid(key, value, why))
}

/// `line` with every occurrence of the `secrets` replaced by `***`: the last guard before a
/// message from librdkafka or a broker reaches a log.
pub fn redact(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// The parts of `key=value;key=value` (newlines also separate; blank parts are ignored), with
/// `\;` standing for a `;` inside a value and `\\` for a backslash.
fn split_parts(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ (';' | '\\')) => parts.last_mut().expect("one").push(n),
                Some(n) => parts.last_mut().expect("one").extend(['\\', n]),
                None => parts.last_mut().expect("one").push('\\'),
            },
            ';' | '\n' => parts.push(String::new()),
            c => parts.last_mut().expect("one").push(c),
        }
    }
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether librdkafka knows the property `key` (global or topic level).
fn known_property(key: &str, value: &str) -> bool {
    let mut probe = rdkafka::ClientConfig::new();
    probe.set(key, value);
    !matches!(
        probe.create_native_config(),
        Err(rdkafka::error::KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
            ..
        ))
    )
}

/// One part of `kafka-config`: a known property and its value, or why not. A part right after a
/// secret one may be the tail of a password holding a `;`: its text is never shown.
fn parse_part(part: &str, after_secret: bool) -> Result<(String, String), String> {
    let hidden = after_secret || is_secret(part);
    let Some((k, v)) = part.split_once('=') else {
        return Err(if hidden {
            "*** (not shown: it follows a secret or looks like one) is not key=value; write a ';' \
             inside a value as '\\;'"
                .into()
        } else {
            format!("'{part}' is not key=value")
        });
    };
    let (k, v) = (k.trim(), v.trim());
    let name_ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    if !name_ok || !known_property(k, v) {
        return Err(if after_secret {
            "the text after a secret value is not a librdkafka property (not shown: it may be \
             the rest of a password holding a ';', which is written '\\;')"
                .into()
        } else {
            format!("'{k}' is not a librdkafka property")
        });
    }
    Ok((k.to_string(), v.to_string()))
}

/// `key=value;key=value` (newlines also separate, blank parts are ignored, `\;` is a `;` inside
/// a value): every name must be a librdkafka property. Errors never show a secret value.
pub fn parse_extra(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut after_secret = false;
    let mut out = Vec::new();
    for part in split_parts(text) {
        let kv = parse_part(&part, after_secret).map_err(|why| ConfigError::Invalid {
            name: "kafka-config".into(),
            value: "…".into(),
            reason: why,
        })?;
        after_secret = is_secret(&kv.0);
        out.push(kv);
    }
    Ok(out)
}

/// `kafka-config` as it may be shown (read back from the element, logged): secret values and
/// the value of the part after a secret one as `***`, and any part that is not a known
/// `key=value` as `***`.
pub fn masked(text: &str) -> String {
    let mut after_secret = false;
    split_parts(text)
        .iter()
        .map(|part| {
            let shown = match parse_part(part, after_secret) {
                // After a secret, even a known name may be the rest of a password with a `;`.
                Ok((k, _)) if is_secret(&k) || after_secret => format!("{k}=***"),
                Ok((k, v)) => format!("{k}={v}"),
                Err(_) => "***".to_string(),
            };
            after_secret = part
                .split_once('=')
                .is_some_and(|(k, _)| is_secret(k.trim()));
            shown
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn validate_bootstrap(v: &str) -> Result<(), ConfigError> {
    let servers: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if servers.is_empty() {
        return Err(invalid(
            "bootstrap-servers",
            v,
            "expected host:port[,host:port…]",
        ));
    }
    for s in servers {
        let s = s.split_once("://").map_or(s, |(_, rest)| rest);
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| invalid("bootstrap-servers", v, format!("'{s}' has no :port")))?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(invalid(
                "bootstrap-servers",
                v,
                format!("'{s}' is not host:port"),
            ));
        }
    }
    Ok(())
}

fn validate_topic(name: &str, t: &str) -> Result<(), ConfigError> {
    let ok = !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(invalid(
            name,
            t,
            "Kafka topic names are 1-249 characters of a-z A-Z 0-9 . _ -",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documents() {
        let s = KafkaSettings::default();
        assert_eq!(
            s.topics.all(),
            [
                "motion.detection.events",
                "face.recognition.events",
                "alert.events"
            ]
        );
        let p = s.client_properties();
        assert!(p.contains(&("acks".into(), "1".into())));
        assert!(p.contains(&("compression.type".into(), "snappy".into())));
        assert!(p.contains(&("linger.ms".into(), "10".into())));
        assert!(p.contains(&("batch.size".into(), "16384".into())));
    }

    #[test]
    fn idempotent_with_acks_all_unless_turned_off() {
        let idempotence = |s: &KafkaSettings| {
            s.client_properties()
                .into_iter()
                .filter(|(k, _)| k == "enable.idempotence")
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        };
        let mut s = KafkaSettings::default();
        assert!(!s.idempotent());
        assert!(idempotence(&s).is_empty());
        s.acks = "all".into();
        assert!(s.idempotent());
        assert_eq!(idempotence(&s), ["true"]);
        s.extra = parse_extra("enable.idempotence=false").unwrap();
        assert!(!s.idempotent());
        assert_eq!(idempotence(&s), ["false"]);
    }

    #[test]
    fn bad_values_are_refused_clearly() {
        let mut s = KafkaSettings {
            compression: "brotli".into(),
            ..Default::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("compression: 'brotli'") && e.contains("snappy"),
            "{e}"
        );
        s.compression = "lz4".into();
        s.bootstrap_servers = "kafka-without-port".into();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("has no :port"));
        s.bootstrap_servers = "a:9092, b:9093".into();
        s.acks = "2".into();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("0, 1 or all"));
        s.acks = "all".into();
        s.topics.alerts = "bad topic!".into();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("topic-alerts"));
    }

    #[test]
    fn extra_properties_and_secrets() {
        let extra =
            parse_extra("security.protocol=SASL_SSL; sasl.password=hunter2 ;;sasl.username=u")
                .unwrap();
        assert_eq!(extra.len(), 3);
        let s = KafkaSettings {
            extra,
            ..Default::default()
        };
        let shown = format!("{s} {s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sasl.password=***") && shown.contains("sasl.username=u"));
        // A misspelt secret is still a secret.
        let typo = KafkaSettings {
            extra: [
                ("sasl.pasword", "hunter2"),
                ("ssl.key.passwd", "x2"),
                ("my.api_token", "t0k"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
            ..Default::default()
        };
        let shown = format!("{typo} {typo:?}");
        assert!(
            ["hunter2", "x2", "t0k"].iter().all(|v| !shown.contains(v)),
            "{shown}"
        );
        let e = parse_extra("sasl.password").unwrap_err().to_string();
        assert!(!e.contains("sasl.password") && e.contains("***"), "{e}");
        assert!(parse_extra("bad key=1").is_err());
        let e = parse_extra("lingr.ms=5").unwrap_err().to_string();
        assert!(e.contains("'lingr.ms' is not a librdkafka property"), "{e}");
    }

    #[test]
    fn a_semicolon_in_a_password_is_escaped_or_never_shown() {
        let extra = parse_extra(r"sasl.username=u;sasl.password=ab\;cd\\;acks=1").unwrap();
        assert_eq!(extra[1], ("sasl.password".into(), r"ab;cd\".into()));
        assert_eq!(extra[2], ("acks".into(), "1".into()));
        // Unescaped: the tail is refused and never echoed, in errors or read back.
        for tail in ["cdTAIL", "cd=TAIL", "linger.ms=TAIL"] {
            let text = format!("sasl.password=abSECRET;{tail}");
            if let Err(e) = parse_extra(&text) {
                assert!(!e.to_string().contains("TAIL"), "{e}");
            }
            let shown = masked(&text);
            assert!(
                !shown.contains("TAIL") && !shown.contains("SECRET"),
                "{shown}"
            );
        }
        assert_eq!(
            masked("security.protocol=SSL;sasl.password=x;nonsense"),
            "security.protocol=SSL;sasl.password=***;***"
        );
    }

    #[test]
    fn secret_values_come_from_files() {
        let dir = std::env::temp_dir().join(format!("fess-secret-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kafka-password");
        std::fs::write(&file, "s3cret;with=signs\r\n").unwrap();
        let at = format!("@{}", file.display());
        assert_eq!(
            resolve_value("sasl.password", &at).unwrap(),
            "s3cret;with=signs"
        );
        assert_eq!(resolve_value("sasl.username", "plain").unwrap(), "plain");
        assert_eq!(
            resolve_value("sasl.password", "\\@not-a-file").unwrap(),
            "@not-a-file"
        );
        let s = KafkaSettings {
            extra: parse_extra(&format!("sasl.username=u;sasl.password={at}")).unwrap(),
            ..Default::default()
        };
        assert_eq!(s.secret_values(), ["s3cret;with=signs"]);
        let cfg = s.client_config().unwrap();
        assert_eq!(cfg.get("sasl.password"), Some("s3cret;with=signs"));
        assert_eq!(s.connection_config().unwrap().get("acks"), None);
        // The file's content is never shown, its name is.
        let shown = format!("{s}");
        assert!(
            !shown.contains("s3cret") && shown.contains("sasl.password=***"),
            "{shown}"
        );

        let missing = format!("@{}", dir.join("nope").display());
        let e = resolve_value("sasl.password", &missing)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("sasl.password: ") && e.contains("nope") && e.contains("No such file"),
            "{e}"
        );
        let huge = dir.join("huge");
        let too_big = crate::secret_files::MAX_SECRET_FILE + 1;
        std::fs::write(&huge, vec![b'x'; too_big as usize]).unwrap();
        let e = resolve_value("ssl.key.pem", &format!("@{}", huge.display())).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        std::fs::write(&huge, [0xff, 0xfe, 0x00]).unwrap();
        let e = resolve_value("ssl.key.pem", &format!("@{}", huge.display())).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn redact_blots_out_every_secret() {
        let secrets = vec!["hunter2".to_string(), String::new()];
        assert_eq!(
            redact("pw hunter2 and hunter2!", &secrets),
            "pw *** and ***!"
        );
        assert_eq!(redact("nothing here", &secrets), "nothing here");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        /// A password of letters only this test uses, and any of the separators, planted at
        /// any place of a configuration: none of its letters is ever shown.
        #[test]
        fn no_password_survives_masking_or_errors(
            secret in "[QXJKVWZ][QXJKVWZ;=\\\\ ]{0,12}[QXJKVWZ]",
            before in proptest::sample::select(vec!["", "acks=1;", "security.protocol=SSL;"]),
            after in proptest::sample::select(vec!["", ";linger.ms=5", ";sasl.username=u", ";x"]),
            key in proptest::sample::select(vec!["sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret"]),
        ) {
            let text = format!("{before}{key}={secret}{after}");
            let leaks = |shown: &str| shown.contains(|c: char| "QXJKVWZ".contains(c));
            let shown = masked(&text);
            proptest::prop_assert!(!leaks(&shown), "{text} shown as {shown}");
            match parse_extra(&text) {
                Err(e) => proptest::prop_assert!(!leaks(&e.to_string()), "{text}: {e}"),
                Ok(extra) => {
                    let s = KafkaSettings { extra, ..Default::default() };
                    let shown = format!("{s} {s:?}");
                    proptest::prop_assert!(!leaks(&shown), "{text} shown as {shown}");
                }
            }
        }
    }
}
