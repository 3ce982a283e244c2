//! The librdkafka properties runner sets on its Kafka clients, and which of them a
//! pipeline's `kafka.properties` may change.
//!
//! A target's properties reach every client. On the producer, runner's defaults
//! ([`PRODUCER_DEFAULTS`]) apply only where the pipeline does not set the property under
//! any of its names ([`canonical`]); the properties the delivery guarantee rests on
//! ([`refusal`]) are runner's alone, and `runner validate` refuses a pipeline that sets
//! them otherwise, or sets one property under two names.

use std::collections::HashSet;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

/// The producer's defaults: property, value.
const PRODUCER_DEFAULTS: [(&str, &str); 4] = [
    ("compression.type", "lz4"),
    ("linger.ms", "5"),
    ("message.timeout.ms", "30000"),
    // The Java clients' partitioning of keyed records.
    ("partitioner", "murmur2_random"),
];

/// What the producer needs, whatever the pipeline says: retries never write a record twice
/// (`enable.idempotence`, which needs `acks=all`).
const PRODUCER_REQUIRED: [(&str, &str); 2] = [("enable.idempotence", "true"), ("acks", "all")];

/// librdkafka's aliases of the properties runner sets: alias, property.
const ALIASES: [(&str, &str); 4] = [
    ("compression.codec", "compression.type"),
    ("queue.buffering.max.ms", "linger.ms"),
    ("delivery.timeout.ms", "message.timeout.ms"),
    ("request.required.acks", "acks"),
];

/// The topic properties runner sets or refuses, which librdkafka also takes with a
/// `topic.` prefix.
const TOPIC_PROPERTIES: [&str; 7] = [
    "compression.type",
    "compression.codec",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "acks",
    "request.required.acks",
    "partitioner",
];

/// The name of property `key` among those runner sets or refuses: its `topic.` prefix
/// dropped and an alias replaced by its property (`topic.delivery.timeout.ms` is
/// `message.timeout.ms`); any other key as it is.
pub fn canonical(key: &str) -> &str {
    let key = match key.strip_prefix("topic.") {
        Some(topic) if TOPIC_PROPERTIES.contains(&topic) => topic,
        _ => key,
    };
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, property)| property)
}

/// Why a pipeline may not set librdkafka property `key` to `value`, if it may not. An empty
/// value (one not resolved yet) is refused only for a property no value of is allowed.
pub fn refusal(key: &str, value: &str) -> Option<&'static str> {
    let key = canonical(key);
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() && !matches!(key, "transactional.id" | "group.id") {
        return None;
    }
    match key {
        "enable.idempotence" if value != "true" => {
            Some("ingest's producer is idempotent, so that its retries never write a record twice")
        }
        "acks" if value != "all" && value != "-1" => {
            Some("the idempotent producer waits for every in-sync replica (acks=all)")
        }
        "partitioner" if value != "murmur2_random" && value != "murmur2" => Some(
            "a record must always go to its key's partition (murmur2, as Kafka's Java clients \
             do): deliver drops the records an ingest crash sent twice only within a partition",
        ),
        "transactional.id" => Some(
            "runner does not use Kafka transactions; its delivery guarantee rests on the \
             idempotent producer and deliver's states (docs/streaming.md)",
        ),
        "group.id" => Some("a deliver flow's consumer group is its `group:`"),
        "enable.auto.commit" | "enable.auto.offset.store" if value != "false" => Some(
            "deliver commits a partition's offset itself, once the batch's objects are written",
        ),
        "partition.assignment.strategy" if value != "cooperative-sticky" => Some(
            "deliver's workers share partitions with the cooperative-sticky assignor: a \
             rebalance moves only the partitions that change hands (and tansu's eager \
             rebalances leave a dead worker's partitions unassigned; docs/targets.md)",
        ),
        "group.protocol" if value != "classic" => Some(
            "deliver joins its group with the classic protocol (JoinGroup, SyncGroup); \
             brokers without KIP-848 leave a `consumer` member without partitions",
        ),
        _ => None,
    }
}

/// librdkafka's objection to property `key` set to `value`, if it has one (no such
/// property, a value it does not take), and `true` with it when the objection is to the
/// name. Values may be secrets: a message of librdkafka's that shows the value is not
/// passed on.
pub fn objection(key: &str, value: &str) -> Option<(String, bool)> {
    let mut config = ClientConfig::new();
    config.set(key, value);
    match config.create_native_config() {
        Ok(_) => None,
        Err(KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, description, ..)) => {
            Some((description, true))
        }
        Err(KafkaError::ClientConfig(_, description, ..)) => {
            let shown = !value.trim().is_empty() && description.contains(value.trim());
            let message = match shown {
                true => format!("librdkafka does not take this value for \"{key}\""),
                false => description,
            };
            Some((message, false))
        }
        Err(e) => Some((e.to_string(), false)),
    }
}

/// The producer's settings: the target's `base`, runner's defaults where it does not set
/// a property under any of its names, and what the delivery guarantee needs.
pub fn producer(base: &ClientConfig) -> ClientConfig {
    let mut config = base.clone();
    let set: HashSet<&str> = base.config_map().into_keys().map(canonical).collect();
    for (key, value) in PRODUCER_DEFAULTS {
        if !set.contains(key) {
            config.set(key, value);
        }
    }
    // The guarantee's settings replace the pipeline's, under whatever name it gave them.
    for key in base.config_map().into_keys() {
        if PRODUCER_REQUIRED
            .iter()
            .any(|(required, _)| *required == canonical(key))
        {
            config.remove(key);
        }
    }
    for (key, value) in PRODUCER_REQUIRED {
        config.set(key, value);
    }
    config
}

/// How long librdkafka tries to deliver a record before it reports it failed
/// (`message.timeout.ms` of producer settings made by [`producer`]); `None` when it
/// tries for ever (0).
pub fn message_timeout(config: &ClientConfig) -> Option<Duration> {
    let millis = config
        .config_map()
        .into_iter()
        .find(|(key, _)| canonical(key) == "message.timeout.ms")
        .and_then(|(_, ms)| ms.trim().parse::<u64>().ok())
        .unwrap_or(30_000);
    (millis > 0).then(|| Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_s_properties_replace_the_producer_s_defaults_but_not_its_guarantee() {
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", "broker:9092");
        let config = producer(&base);
        assert_eq!(config.get("compression.type"), Some("lz4"));
        assert_eq!(config.get("linger.ms"), Some("5"));
        assert_eq!(config.get("partitioner"), Some("murmur2_random"));
        assert_eq!(message_timeout(&config), Some(Duration::from_secs(30)));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));

        // Set under any of its names, the pipeline's value is the one left.
        base.set("compression.codec", "gzip")
            .set("queue.buffering.max.ms", "50")
            .set("topic.delivery.timeout.ms", "2000")
            .set("topic.partitioner", "murmur2")
            .set("request.required.acks", "-1")
            .set("enable.idempotence", "true");
        let config = producer(&base);
        assert_eq!(config.get("compression.type"), None);
        assert_eq!(config.get("compression.codec"), Some("gzip"));
        assert_eq!(config.get("linger.ms"), None);
        assert_eq!(config.get("queue.buffering.max.ms"), Some("50"));
        assert_eq!(config.get("message.timeout.ms"), None);
        assert_eq!(message_timeout(&config), Some(Duration::from_secs(2)));
        assert_eq!(config.get("partitioner"), None);
        assert_eq!(config.get("topic.partitioner"), Some("murmur2"));
        assert_eq!(config.get("request.required.acks"), None);
        assert_eq!(config.get("acks"), Some("all"));
        // librdkafka takes the settings as they are.
        config
            .create::<rdkafka::producer::BaseProducer>()
            .expect("a producer");
        // 0 is no deadline at all.
        base.set("topic.delivery.timeout.ms", "0");
        assert_eq!(message_timeout(&producer(&base)), None);
    }

    #[test]
    fn a_property_s_names_are_one() {
        for (key, name) in [
            ("compression.codec", "compression.type"),
            ("topic.compression.codec", "compression.type"),
            ("topic.acks", "acks"),
            ("request.required.acks", "acks"),
            ("delivery.timeout.ms", "message.timeout.ms"),
            ("queue.buffering.max.ms", "linger.ms"),
            ("topic.partitioner", "partitioner"),
            // Global properties whose names start with `topic.` stay as they are.
            (
                "topic.metadata.refresh.interval.ms",
                "topic.metadata.refresh.interval.ms",
            ),
            ("security.protocol", "security.protocol"),
        ] {
            assert_eq!(canonical(key), name, "{key}");
        }
    }

    #[test]
    fn librdkafka_names_unknown_properties_and_values_it_does_not_take_without_the_value() {
        let (message, on_name) = objection("linger.mss", "5").expect("unknown");
        assert!(on_name && message.contains("linger.mss"), "{message}");
        let (message, on_name) = objection("sasl.pasword", "hunter2").expect("unknown");
        assert!(on_name && !message.contains("hunter2"), "{message}");
        let (message, on_name) = objection("batch.size", "lots").expect("not a number");
        assert!(!on_name && message.contains("batch.size"), "{message}");
        // Messages that would show the value, however librdkafka writes it, are not
        // passed on.
        for (key, value) in [
            ("batch.size", "lots"),
            ("security.protocol", "carrier-pigeon"),
            ("partitioner", "SECRET-PART"),
            ("linger.ms", "987654321"),
            ("debug", "sekrit"),
            ("compression.type", "brotli"),
        ] {
            let (message, on_name) =
                objection(key, value).unwrap_or_else(|| panic!("{key}: taken"));
            assert!(!on_name && !message.contains(value), "{key}: {message}");
        }
        for (key, value) in [
            ("linger.ms", "50"),
            ("compression.type", "gzip"),
            ("compression.type", "zstd"),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.password", "hunter2"),
        ] {
            assert_eq!(objection(key, value), None, "{key}={value}");
        }
    }

    #[test]
    fn only_settings_that_would_break_the_guarantee_are_refused() {
        for (key, value) in [
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("topic.acks", "1"),
            ("request.required.acks", "0"),
            ("partitioner", "random"),
            ("topic.partitioner", "random"),
            ("partitioner", "consistent_random"),
            ("transactional.id", "ingest-1"),
            ("group.id", ""),
            ("group.id", "mine"),
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "True"),
            ("partition.assignment.strategy", "range,roundrobin"),
            ("partition.assignment.strategy", "roundrobin"),
            ("group.protocol", "consumer"),
        ] {
            assert!(refusal(key, value).is_some(), "{key}={value}");
        }
        for (key, value) in [
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("request.required.acks", "-1"),
            ("partitioner", "murmur2"),
            ("topic.partitioner", "murmur2_random"),
            ("enable.auto.commit", "false"),
            ("enable.idempotence", ""),
            ("linger.ms", "50"),
            ("security.protocol", "SASL_SSL"),
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("group.protocol", "classic"),
            ("group.instance.id", "deliver-0"),
            ("session.timeout.ms", "30000"),
        ] {
            assert_eq!(refusal(key, value), None, "{key}={value}");
        }
    }
}
