//! Access to the real services `scripts/services.sh` starts. Under CI (`CI=true`) a missing
//! service fails the test; elsewhere the test says it did not run and returns.

/// The address in `variable`, or `None` (outside CI) when it is not set.
pub fn service(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{variable} is not set: CI must start the services (scripts/services.sh start)"
            );
            eprintln!(
                "NOT RUN: {variable} is not set; start the services with scripts/services.sh start"
            );
            None
        }
    }
}

/// A name unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The S3 client settings for a test endpoint with the test credentials.
pub fn s3_config(endpoint: &str) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::Config::builder()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .force_path_style(true)
        .behavior_version_latest()
}

/// An S3 client for a test endpoint with the test credentials.
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(endpoint).build())
}

/// A Glue client for a test endpoint with the test credentials.
pub fn glue_client(endpoint: &str) -> aws_sdk_glue::Client {
    let config = aws_sdk_glue::Config::builder()
        .endpoint_url(endpoint)
        .region(aws_sdk_glue::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_glue::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .behavior_version_latest()
        .build();
    aws_sdk_glue::Client::from_conf(config)
}
