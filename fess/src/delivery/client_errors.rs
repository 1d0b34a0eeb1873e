//! Why a Kafka client cannot get in: librdkafka reports a refused password or a certificate
//! that does not verify only through its error callback, while the requests themselves just
//! time out. [`SecurityFailures`] keeps the last such cause so the publisher's warnings and the
//! health check can name it instead of "unreachable", and so it is warned about loudly without
//! repeating at every reconnect.

use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};

use crate::delivery::kafka_config::redact;
use crate::sync::MutexExt;

/// The same cause is warned about again after this long, so a log that rotated still has it.
const WARN_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// What kind of security failure an error is, if it is one.
pub fn security_cause(error: &KafkaError) -> Option<&'static str> {
    match error.rdkafka_error_code()? {
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
            Some("Kafka authentication failed")
        }
        RDKafkaErrorCode::SSL => Some("Kafka TLS connection failed"),
        RDKafkaErrorCode::TopicAuthorizationFailed
        | RDKafkaErrorCode::ClusterAuthorizationFailed
        | RDKafkaErrorCode::GroupAuthorizationFailed => Some("Kafka refused permission"),
        _ => None,
    }
}

struct Last {
    text: String,
    warned: Instant,
}

/// The last security failure a client reported, with the secrets that must never be shown.
pub struct SecurityFailures {
    secrets: Vec<String>,
    last: std::sync::Mutex<Option<Last>>,
}

impl SecurityFailures {
    /// `secrets`: the values to keep out of every line ([`KafkaSettings::secret_values`]).
    ///
    /// [`KafkaSettings::secret_values`]: crate::delivery::kafka_config::KafkaSettings::secret_values
    pub fn new(secrets: Vec<String>) -> SecurityFailures {
        SecurityFailures {
            secrets,
            last: Default::default(),
        }
    }

    /// Notes `error` (librdkafka's `reason` says which broker and why) if it is a security
    /// failure; returns the line to warn with when it should be warned about now: a new cause,
    /// or the same one a minute later.
    pub fn record(&self, error: &KafkaError, reason: &str) -> Option<String> {
        let cause = security_cause(error)?;
        // librdkafka ends the reason with "(after N ms in state X, N identical error(s)
        // suppressed)": the same cause each time, worded differently.
        let reason = reason.split(" (after ").next().unwrap_or(reason);
        let text = self.redact(&format!("{cause}: {reason}"));
        let mut last = self.last.locked();
        let warn = match &*last {
            Some(l) => l.text != text || l.warned.elapsed() >= WARN_AGAIN_AFTER,
            None => true,
        };
        if warn {
            *last = Some(Last {
                text: text.clone(),
                warned: Instant::now(),
            });
            Some(text)
        } else {
            None
        }
    }

    /// The cause last recorded, until [`clear`](Self::clear).
    pub fn last(&self) -> Option<String> {
        self.last.locked().as_ref().map(|l| l.text.clone())
    }

    /// The client got in: what failed before is history.
    pub fn clear(&self) {
        *self.last.locked() = None;
    }

    /// `line` with the secrets blotted out.
    pub fn redact(&self, line: &str) -> String {
        redact(line, &self.secrets)
    }
}

/// The context of a client that only checks (the health check): keeps its security failures
/// and prints each to stderr, after `prefix`, as it is polled.
pub struct ReportingContext {
    pub failures: SecurityFailures,
    prefix: &'static str,
}

impl ReportingContext {
    pub fn new(prefix: &'static str, secrets: Vec<String>) -> ReportingContext {
        ReportingContext {
            failures: SecurityFailures::new(secrets),
            prefix,
        }
    }
}

impl ClientContext for ReportingContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(line) = self.failures.record(&error, reason) {
            eprintln!("{}: {line}", self.prefix);
        }
    }
}

/// For checks that only ask for metadata: nothing is produced.
impl ProducerContext for ReportingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_failures_are_named_once_and_never_show_a_secret() {
        let f = SecurityFailures::new(vec!["s3cr3t-pw".into()]);
        let auth = KafkaError::Global(RDKafkaErrorCode::Authentication);
        let reason = "sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: bad \
                      password s3cr3t-pw (after 3ms in state AUTH_REQ)";
        let line = f
            .record(&auth, reason)
            .expect("the first failure is warned");
        assert!(
            line.starts_with("Kafka authentication failed: sasl_ssl://"),
            "{line}"
        );
        assert!(
            !line.contains("s3cr3t-pw") && line.contains("***"),
            "{line}"
        );
        assert!(!line.contains("after 3ms"), "{line}");
        // The same cause at the next reconnect: not warned again.
        let again = reason.replace("3ms", "9ms");
        assert_eq!(f.record(&auth, &again), None);
        assert_eq!(f.last().as_deref(), Some(line.as_str()));
        // Another cause is.
        let tls = KafkaError::Global(RDKafkaErrorCode::SSL);
        let line = f.record(
            &tls,
            "ssl://h:1/bootstrap: SSL handshake failed: certificate verify failed",
        );
        assert!(line.unwrap().starts_with("Kafka TLS connection failed"));
        // A broker that is merely down is not a security failure.
        let down = KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure);
        assert_eq!(f.record(&down, "Connection refused"), None);
        f.clear();
        assert_eq!(f.last(), None);
    }
}
