//! `fess events`: read FESS events back from Kafka, for people watching the topics (Debian's
//! kcat is too old for some brokers).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

#[derive(clap::Args)]
pub struct EventsArgs {
    /// Kafka brokers (default: KAFKA_BOOTSTRAP_SERVERS, else localhost:9092).
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// librdkafka properties as key=value;key=value (TLS, SASL: README, "Secure Kafka"), after
    /// those of FESS_KAFKA_CONFIG; a value @FILE is read from FILE.
    #[arg(long, value_name = "PROPERTIES")]
    kafka_config: Option<String>,
    /// Topics to read (default: the three FESS topics from KAFKA_TOPIC_*, else their defaults).
    #[arg(long, value_delimiter = ',')]
    topics: Vec<String>,
    /// Stop after this many seconds without a new message.
    #[arg(long, default_value_t = 5)]
    idle_timeout: u64,
    /// Print a summary (events per topic and the first of each) instead of every event.
    #[arg(long)]
    summary: bool,
    /// With --summary: one JSON document, `{"topics": {"<topic>": {"events": N, "example":
    /// <the first event or null>}}}`.
    #[arg(long, requires = "summary")]
    json: bool,
}

pub fn run(args: EventsArgs) -> anyhow::Result<()> {
    use fess::delivery::kafka_config::{client_error, parse_extra, KafkaSettings};
    let mut settings = KafkaSettings::from_env()?;
    if let Some(b) = args.bootstrap_servers {
        settings.bootstrap_servers = b;
    }
    if let Some(text) = &args.kafka_config {
        settings.extra.extend(parse_extra(text)?);
    }
    settings.client_id = "fess-events".into();
    settings.validate()?;
    let bootstrap = settings.bootstrap_servers.clone();
    let topics: Vec<String> = if args.topics.is_empty() {
        settings
            .topics
            .all()
            .iter()
            .map(|t| t.to_string())
            .collect()
    } else {
        args.topics
    };
    let consumer: BaseConsumer = settings
        .connection_config()?
        .set("group.id", "fess-events-cli")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| anyhow::anyhow!(client_error(&e)))
        .context("creating the Kafka consumer")?;
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(|e| anyhow::anyhow!(security_failure(&consumer).unwrap_or_else(|| e.to_string())))
        .with_context(|| format!("cannot reach Kafka at {bootstrap}"))?;
    let mut tpl = TopicPartitionList::new();
    for t in md
        .topics()
        .iter()
        .filter(|t| topics.iter().any(|n| n == t.name()))
    {
        for p in t.partitions() {
            tpl.add_partition_offset(t.name(), p.id(), Offset::Beginning)?;
        }
    }
    anyhow::ensure!(
        tpl.count() > 0,
        "none of the topics {} exist at {bootstrap}",
        topics.join(", ")
    );
    consumer.assign(&tpl)?;
    let mut per_topic: BTreeMap<String, (u64, Option<String>)> = BTreeMap::new();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(args.idle_timeout) {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg?;
        last = Instant::now();
        let payload = String::from_utf8_lossy(msg.payload().unwrap_or_default()).into_owned();
        if !args.summary {
            outln!("{} {}", msg.topic(), payload);
        }
        let e = per_topic.entry(msg.topic().to_string()).or_default();
        e.0 += 1;
        e.1.get_or_insert(payload);
    }
    if args.summary && args.json {
        let summary: serde_json::Map<String, serde_json::Value> = topics
            .iter()
            .map(|t| {
                let (n, example) = per_topic.get(t).cloned().unwrap_or_default();
                let example = example
                    .map(|e| serde_json::from_str(&e).unwrap_or(serde_json::Value::String(e)));
                (
                    t.clone(),
                    serde_json::json!({"events": n, "example": example}),
                )
            })
            .collect();
        outln!("{}", serde_json::json!({ "topics": summary }));
    } else if args.summary {
        for t in &topics {
            let (n, example) = per_topic.get(t).cloned().unwrap_or_default();
            outln!("{t}: {n} events");
            if let Some(ex) = example {
                outln!("  example: {ex}");
            }
        }
    }
    Ok(())
}

/// A refused password or certificate, if that is why the consumer got nowhere: it says more
/// than the timeout it led to. A consumer gets such failures as results of `poll`, reported
/// just after the request they broke; a broker that is down reports errors without end, so the
/// search is bounded.
fn security_failure(consumer: &BaseConsumer) -> Option<String> {
    use fess::delivery::client_errors::security_cause;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Err(e)) => {
                if let Some(cause) = security_cause(&e) {
                    return Some(format!("{cause}: {e}"));
                }
            }
            Some(Ok(_)) => {}
            None => return None,
        }
    }
    None
}
