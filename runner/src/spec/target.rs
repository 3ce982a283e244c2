//! `targets`: remote systems a pipeline can be planned, applied and run against.
//!
//! The embedded `local` target needs no entry: it is the default and keeps everything under
//! `.runner/` (or `RUNNER_STATE_DIR`).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::Secret;

/// A remote target: Kafka, AWS (S3 and Glue) and Athena settings. Environment references are
/// resolved only when the target is used, so `runner validate` needs none of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The AWS region, e.g. `us-west-2`. Defaults to the AWS configuration's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runner-public" = true))]
    pub region: Option<String>,
    /// The AWS profile to use. Defaults to the credential chain (environment, profile, SSO,
    /// instance role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runner-public" = true))]
    pub profile: Option<String>,
    /// A custom AWS endpoint (S3, Glue and Athena), e.g. a local test server. Per-service
    /// `AWS_ENDPOINT_URL_S3` / `_GLUE` / `_ATHENA` variables still take precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runner-public" = true))]
    pub endpoint: Option<String>,
    /// The Kafka cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<Kafka>,
    /// Athena settings for `runner query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athena: Option<Athena>,
}

/// A Kafka cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Kafka {
    /// Bootstrap servers, `host:port[,host:port...]`, typically `${KAFKA_BOOTSTRAP_SERVERS}`.
    #[schemars(extend("x-runner-public" = true))]
    pub bootstrap: String,
    /// librdkafka properties passed through as given (`security.protocol`, `sasl.mechanism`,
    /// `sasl.username`, `sasl.password`, ...). Values are treated as secrets and never printed.
    /// They replace runner's producer defaults (`compression.type: lz4`, `linger.ms: 5`,
    /// `message.timeout.ms: 30000`, `partitioner: murmur2_random`, or `murmur2`); the
    /// settings the delivery guarantee rests on (the idempotent producer with `acks=all`, the
    /// murmur2 partitioner, no `transactional.id`, deliver's own `group.id` and offset
    /// commits) cannot be changed, and a property is set under one of its names only.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub properties: IndexMap<String, Secret>,
}

/// Athena settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Athena {
    /// The workgroup queries run in.
    #[serde(default = "default_workgroup")]
    #[schemars(extend("x-runner-public" = true))]
    pub workgroup: String,
    /// Where Athena writes results (`s3://bucket/prefix/`). Defaults to the workgroup's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runner-public" = true))]
    pub output_location: Option<String>,
}

fn default_workgroup() -> String {
    "primary".to_owned()
}
