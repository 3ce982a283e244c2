//! Connecting a named remote target: AWS clients through the standard credential chain
//! (environment, profiles, SSO, instance roles) and endpoint settings, and a Kafka admin
//! client with the pipeline's librdkafka properties passed through as given.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use rdkafka::config::ClientConfig;

use super::{AthenaAccess, Backends};
use crate::backend::embedded::{FileAccess, S3Access};
use crate::backend::glue::Glue;
use crate::backend::kafka::Kafka;
use crate::backend::s3::S3;
use crate::spec::Pipeline;

/// The slowest rate, in bytes a second, at which a request's body is given time to go.
const SLOWEST_SEND: u64 = 1 << 20;

/// The timeouts of an AWS request that sends a body of `bytes`: 3 s to connect, and for
/// each of its 3 attempts 10 s plus the time to send the body at [`SLOWEST_SEND`] (a
/// 64 MiB object gets 74 s), so a large object on a slow link is not cut off at a
/// fixed deadline and retried in vain; the whole operation gets its attempts and their
/// backoffs.
pub fn timeouts(bytes: u64) -> TimeoutConfig {
    let attempt = Duration::from_secs(10 + bytes / SLOWEST_SEND);
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * 3)
        .build()
}

/// An endpoint override for one service: `AWS_ENDPOINT_URL_<SERVICE>` wins (the SDK reads
/// it itself), then the target's `endpoint`.
fn endpoint_for(service_variable: &str, target_endpoint: Option<&str>) -> Option<String> {
    if std::env::var_os(service_variable).is_some() {
        return None;
    }
    target_endpoint.filter(|e| !e.is_empty()).map(str::to_owned)
}

/// The librdkafka settings of a target's `kafka:` section: runner's defaults, then the
/// pipeline's properties, which override them.
fn kafka_config(kafka: &crate::spec::target::Kafka) -> ClientConfig {
    let mut config = ClientConfig::new();
    // librdkafka holds a new client's connection attempts back for half the reconnect
    // backoff. A client's first request often lands as the bootstrap connection gives way
    // to the broker's advertised address, and so waited about 50 ms at the default 100 ms:
    // a run makes several clients in a row. Later backoffs still double up to
    // `reconnect.backoff.max.ms` (10 s).
    config
        .set("bootstrap.servers", kafka.bootstrap.trim())
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("reconnect.backoff.ms", "10");
    for (key, value) in &kafka.properties {
        config.set(key, value.expose());
    }
    config
}

/// Attempts of one Glue request (the other services' requests get 3).
const GLUE_ATTEMPTS: u32 = 8;

/// Whether requests go to a custom endpoint (then S3 uses path-style addressing).
fn custom_endpoint(target_endpoint: Option<&str>) -> bool {
    target_endpoint.is_some_and(|e| !e.is_empty())
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
}

/// The backends of remote target `name` for `pipeline`.
pub async fn connect(name: &str, pipeline: &Pipeline) -> Result<Backends, String> {
    let Some(settings) = pipeline.targets.get(name) else {
        return Err(format!(
            "pipeline '{}' has no target '{name}'",
            pipeline.pipeline
        ));
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts(0))
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(profile) = settings.profile.as_deref().filter(|p| !p.is_empty()) {
        loader = loader.profile_name(profile);
    }
    let sdk = loader.load().await;
    let region = sdk
        .region()
        .map(ToString::to_string)
        .ok_or_else(|| format!("target '{name}' has no AWS region: set `region:` or AWS_REGION"))?;
    let endpoint = settings.endpoint.as_deref();

    let mut s3 =
        aws_sdk_s3::config::Builder::from(&sdk).force_path_style(custom_endpoint(endpoint));
    if let Some(url) = endpoint_for("AWS_ENDPOINT_URL_S3", endpoint) {
        s3 = s3.endpoint_url(url);
    }
    // Glue's API allows few requests a second per account and answers more with
    // ThrottlingException; deliver registers partitions as it goes, so a burst of workers
    // would otherwise fail a batch after three attempts and start over.
    let mut glue = aws_sdk_glue::config::Builder::from(&sdk)
        .retry_config(RetryConfig::standard().with_max_attempts(GLUE_ATTEMPTS));
    if let Some(url) = endpoint_for("AWS_ENDPOINT_URL_GLUE", endpoint) {
        glue = glue.endpoint_url(url);
    }

    let log = match (&settings.kafka, pipeline.topics.is_empty()) {
        (Some(kafka), _) => {
            if kafka.bootstrap.trim().is_empty() {
                return Err(format!("target '{name}': kafka.bootstrap is empty"));
            }
            let config = kafka_config(kafka);
            Some(Box::new(Kafka::new(&config).map_err(|e| e.to_string())?) as Box<dyn super::Log>)
        }
        (None, true) => None,
        (None, false) => {
            return Err(format!(
                "target '{name}' has no `kafka:` section, but the pipeline declares topics"
            ));
        }
    };
    let athena = settings.athena.as_ref().map(|athena| {
        let mut config = aws_sdk_athena::config::Builder::from(&sdk);
        if let Some(url) = endpoint_for("AWS_ENDPOINT_URL_ATHENA", endpoint) {
            config = config.endpoint_url(url);
        }
        AthenaAccess {
            client: aws_sdk_athena::Client::from_conf(config.build()),
            settings: athena.clone(),
        }
    });
    let files = FileAccess::S3(Box::new(S3Access {
        region: region.clone(),
        endpoint: std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .or_else(|| endpoint.filter(|e| !e.is_empty()).map(str::to_owned))
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|e| !e.is_empty()),
        sdk: sdk.clone(),
    }));
    Ok(Backends {
        target: name.to_owned(),
        region,
        objects: Box::new(S3::new(aws_sdk_s3::Client::from_conf(s3.build()))),
        catalog: Box::new(Glue::new(aws_sdk_glue::Client::from_conf(glue.build()))),
        log,
        files,
        athena,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::Secret;

    #[test]
    fn kafka_settings_are_runners_defaults_overridden_by_the_pipelines_properties() {
        let mut kafka = crate::spec::target::Kafka {
            bootstrap: " broker:9092 ".to_owned(),
            properties: Default::default(),
        };
        let config = kafka_config(&kafka);
        assert_eq!(config.get("bootstrap.servers"), Some("broker:9092"));
        assert_eq!(config.get("reconnect.backoff.ms"), Some("10"));
        assert_eq!(
            config.get("socket.connection.setup.timeout.ms"),
            Some("5000")
        );
        kafka
            .properties
            .insert("reconnect.backoff.ms".to_owned(), Secret::new("250"));
        kafka
            .properties
            .insert("security.protocol".to_owned(), Secret::new("SASL_SSL"));
        let config = kafka_config(&kafka);
        assert_eq!(config.get("reconnect.backoff.ms"), Some("250"));
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(
            config.get("socket.connection.setup.timeout.ms"),
            Some("5000")
        );
    }
}
