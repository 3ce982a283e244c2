//! The librdkafka properties runner sets on its Kafka clients, and which of them a
//! pipeline's `kafka.properties` may change.
//!
//! A target's properties reach every client. On the producer, runner's defaults
//! ([`PRODUCER_DEFAULTS`]) apply only where the pipeline sets neither the property nor its
//! librdkafka alias; the properties the delivery guarantee rests on ([`refusal`]) are
//! runner's alone, and `runner validate` refuses a pipeline that sets them otherwise.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

/// The producer's defaults: property, its librdkafka alias, value.
const PRODUCER_DEFAULTS: [(&str, &str, &str); 4] = [
    ("compression.type", "compression.codec", "lz4"),
    ("linger.ms", "queue.buffering.max.ms", "5"),
    ("message.timeout.ms", "delivery.timeout.ms", "30000"),
    // The Java clients' partitioning of keyed records.
    ("partitioner", "partitioner", "murmur2_random"),
];

/// What the producer needs, whatever the pipeline says: retries never write a record twice
/// (`enable.idempotence`, which needs `acks=all`).
const PRODUCER_REQUIRED: [(&str, &str); 2] = [("enable.idempotence", "true"), ("acks", "all")];

/// Why a pipeline may not set librdkafka property `key` to `value`, if it may not. An empty
/// value (one not resolved yet) is refused only for a property no value of is allowed.
pub fn refusal(key: &str, value: &str) -> Option<&'static str> {
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() && !matches!(key, "transactional.id" | "group.id") {
        return None;
    }
    match key {
        "enable.idempotence" if value != "true" => {
            Some("ingest's producer is idempotent, so that its retries never write a record twice")
        }
        "acks" | "request.required.acks" if value != "all" && value != "-1" => {
            Some("the idempotent producer waits for every in-sync replica (acks=all)")
        }
        "partitioner" if value == "random" => Some(
            "a record must go to its key's partition: deliver drops the records an ingest \
             crash sent twice only within a partition",
        ),
        "transactional.id" => Some(
            "runner does not use Kafka transactions; its delivery guarantee rests on the \
             idempotent producer and deliver's states (docs/streaming.md)",
        ),
        "group.id" => Some("a deliver flow's consumer group is its `group:`"),
        "enable.auto.commit" | "enable.auto.offset.store" if value != "false" => Some(
            "deliver commits a partition's offset itself, once the batch's objects are written",
        ),
        _ => None,
    }
}

/// librdkafka's objection to property `key` set to `value`, if it has one (no such
/// property, a value it does not take), with `value` left out of the message: values may
/// be secrets. `true` with it when the objection is to the name.
pub fn objection(key: &str, value: &str) -> Option<(String, bool)> {
    let mut config = ClientConfig::new();
    config.set(key, value);
    match config.create_native_config() {
        Ok(_) => None,
        Err(KafkaError::ClientConfig(code, description, _, _)) => {
            // librdkafka quotes the values it names.
            let description = description.replace(&format!("\"{value}\""), "\"…\"");
            Some((description, code == RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN))
        }
        Err(e) => Some((e.to_string(), false)),
    }
}

/// The producer's settings: the target's `base`, runner's defaults where it sets neither
/// a property nor its alias, and what the delivery guarantee needs.
pub fn producer(base: &ClientConfig) -> ClientConfig {
    let mut config = base.clone();
    for (key, alias, value) in PRODUCER_DEFAULTS {
        if config.get(key).is_none() && config.get(alias).is_none() {
            config.set(key, value);
        }
    }
    for (key, value) in PRODUCER_REQUIRED {
        config.set(key, value);
    }
    config.remove("request.required.acks");
    config
}

/// How long librdkafka tries to deliver a record before it reports it failed
/// (`message.timeout.ms` of producer settings made by [`producer`]).
pub fn message_timeout(config: &ClientConfig) -> Duration {
    let millis = config
        .get("message.timeout.ms")
        .or_else(|| config.get("delivery.timeout.ms"))
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .unwrap_or(30_000);
    Duration::from_millis(millis)
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
        assert_eq!(message_timeout(&config), Duration::from_secs(30));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));

        // Set by name or by alias, the pipeline's value is the one left.
        base.set("compression.codec", "gzip")
            .set("linger.ms", "50")
            .set("delivery.timeout.ms", "2000")
            .set("partitioner", "consistent_random")
            .set("request.required.acks", "-1");
        let config = producer(&base);
        assert_eq!(config.get("compression.type"), None);
        assert_eq!(config.get("compression.codec"), Some("gzip"));
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("message.timeout.ms"), None);
        assert_eq!(message_timeout(&config), Duration::from_secs(2));
        assert_eq!(config.get("partitioner"), Some("consistent_random"));
        assert_eq!(config.get("request.required.acks"), None);
        assert_eq!(config.get("acks"), Some("all"));
        // librdkafka takes the settings as they are.
        config
            .create::<rdkafka::producer::BaseProducer>()
            .expect("a producer");
    }

    #[test]
    fn librdkafka_names_unknown_properties_and_values_it_does_not_take_without_the_value() {
        let (message, on_name) = objection("linger.mss", "5").expect("unknown");
        assert!(on_name && message.contains("linger.mss"), "{message}");
        let (message, on_name) = objection("sasl.pasword", "hunter2").expect("unknown");
        assert!(on_name && !message.contains("hunter2"), "{message}");
        let (message, on_name) = objection("batch.size", "lots").expect("not a number");
        assert!(!on_name && message.contains("batch.size"), "{message}");
        assert!(!message.contains("lots"), "{message}");
        // A message that would hold the value has it left out.
        let (message, _) = objection("security.protocol", "carrier-pigeon").expect("no");
        assert!(!message.contains("carrier-pigeon"), "{message}");
        // This build of librdkafka has no zstd.
        let (message, _) = objection("compression.type", "zstd").expect("no zstd");
        assert!(message.contains("libzstd"), "{message}");
        for (key, value) in [
            ("linger.ms", "50"),
            ("compression.type", "gzip"),
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
            ("request.required.acks", "0"),
            ("partitioner", "random"),
            ("transactional.id", "ingest-1"),
            ("group.id", ""),
            ("group.id", "mine"),
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "True"),
        ] {
            assert!(refusal(key, value).is_some(), "{key}={value}");
        }
        for (key, value) in [
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("request.required.acks", "-1"),
            ("partitioner", "murmur2"),
            ("enable.auto.commit", "false"),
            ("enable.idempotence", ""),
            ("linger.ms", "50"),
            ("security.protocol", "SASL_SSL"),
        ] {
            assert_eq!(refusal(key, value), None, "{key}={value}");
        }
    }
}
