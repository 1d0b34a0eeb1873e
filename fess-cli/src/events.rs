//! `fess events`: read FESS events back from Kafka, for people watching the topics (Debian's
//! kcat is too old for some brokers).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[derive(clap::Args)]
pub struct EventsArgs {
    /// Kafka brokers (default: KAFKA_BOOTSTRAP_SERVERS, else localhost:9092).
    #[arg(long)]
    bootstrap_servers: Option<String>,
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
    let defaults = fess::delivery::kafka_config::KafkaSettings::from_env()?;
    let bootstrap = args.bootstrap_servers.unwrap_or(defaults.bootstrap_servers);
    let topics: Vec<String> = if args.topics.is_empty() {
        defaults
            .topics
            .all()
            .iter()
            .map(|t| t.to_string())
            .collect()
    } else {
        args.topics
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "fess-events-cli")
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the Kafka consumer")?;
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
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
