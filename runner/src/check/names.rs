//! Naming rules of the services runner talks to (Kafka topics and consumer groups, S3
//! buckets and key prefixes, Glue names) and of runner's own names. Names end up in paths
//! and object keys, so none may climb out of its place (`..`, a stray `/`) or hold a
//! control character. Each rule returns `Err(reason)` with a sentence a user can act on.

/// Kafka topic names: 1-249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn kafka_topic(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 249 {
        return Err("Kafka topic names are 1 to 249 characters long".into());
    }
    if name == "." || name == ".." {
        return Err("Kafka does not allow the topic names '.' and '..'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "Kafka topic names may hold only ASCII letters, digits, '.', '_' and '-', not {c:?}"
        ));
    }
    Ok(())
}

/// S3 bucket names (general purpose buckets).
pub fn s3_bucket(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!(
            "S3 bucket names are 3 to 63 characters long; this one has {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-')))
    {
        return Err(format!(
            "S3 bucket names may hold only lowercase letters, digits, '.' and '-', not {c:?}"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err("S3 bucket names must begin and end with a letter or digit".into());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err("S3 bucket names may not hold '..', '.-' or '-.'".into());
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("S3 bucket names may not look like an IP address".into());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("S3 bucket names may not start with '{prefix}'"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!("S3 bucket names may not end with '{suffix}'"));
        }
    }
    Ok(())
}

/// Glue database, table and column names as Athena can query them: lowercase letters,
/// digits and `_`, at most 255 characters.
pub fn glue(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!("Glue {what} names are 1 to 255 characters long"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        let hint = if c.is_ascii_uppercase() {
            " (Glue stores names in lowercase)".to_owned()
        } else {
            String::new()
        };
        return Err(format!(
            "Glue {what} names may hold only lowercase letters, digits and '_', not {c:?}{hint}"
        ));
    }
    Ok(())
}

/// Names of pipelines, flows, sources, datasets, layouts, queries and targets: a letter,
/// then letters, digits, `_` or `-`.
pub fn identifier(what: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) {
        return Err(format!(
            "{what} names start with a letter and hold only letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

/// The first control character (a line break, a tab, NUL, an escape...) of `name`.
fn control(name: &str) -> Option<char> {
    name.chars().find(|c| c.is_control())
}

/// Kafka consumer group names: not blank, no control character, no `/` or `\` and no
/// `..`, since the local target keeps a group's offsets in a file named after it.
pub fn consumer_group(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the consumer group may not be empty".into());
    }
    if let Some(c) = control(name) {
        return Err(format!(
            "the consumer group '{}' holds the control character {c:?}",
            name.escape_debug()
        ));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\')) {
        return Err(format!(
            "the consumer group '{name}' holds {c:?}; a group name is one name, not a path"
        ));
    }
    if name.contains("..") {
        return Err(format!("the consumer group '{name}' may not hold '..'"));
    }
    Ok(())
}

/// Key prefixes of layouts: segments separated and ended by `/` (`historical/`,
/// `data/incremental/`), none empty, `.` or `..`, without a leading `/` or a control
/// character, so every key stays under the prefix in the bucket.
pub fn key_prefix(prefix: &str) -> Result<(), String> {
    let shown = prefix.escape_debug();
    if let Some(c) = control(prefix) {
        return Err(format!(
            "prefix '{shown}' holds the control character {c:?}"
        ));
    }
    if prefix.starts_with('/') {
        return Err(format!("prefix '{shown}' must not start with '/'"));
    }
    let Some(segments) = prefix.strip_suffix('/') else {
        return Err(format!("prefix '{shown}' must end with '/'"));
    };
    for segment in segments.split('/') {
        match segment {
            "" => return Err(format!("prefix '{shown}' has an empty segment ('//')")),
            "." | ".." => {
                return Err(format!(
                    "prefix '{shown}' has a '{segment}' segment; a prefix may not climb out of the bucket's keys"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_topic_rules() {
        assert!(kafka_topic("seattle_911_crime").is_ok());
        assert!(kafka_topic("a.b-c").is_ok());
        assert!(kafka_topic("..").is_err());
        assert!(kafka_topic("has space").is_err());
        assert!(kafka_topic(&"x".repeat(250)).is_err());
    }

    #[test]
    fn bucket_rules() {
        assert!(s3_bucket("seattle-911").is_ok());
        assert!(s3_bucket("Seattle").is_err());
        assert!(s3_bucket("ab").is_err());
        assert!(s3_bucket("-abc").is_err());
        assert!(s3_bucket("a..b").is_err());
        assert!(s3_bucket("192.168.1.1").is_err());
        assert!(s3_bucket("xn--abc").is_err());
        assert!(s3_bucket("data-s3alias").is_err());
    }

    #[test]
    fn glue_rules() {
        assert!(glue("table", "offenses_2024").is_ok());
        let err = glue("column", "Offense").unwrap_err();
        assert!(err.contains("lowercase"), "{err}");
        assert!(glue("table", "a-b").is_err());
    }

    #[test]
    fn identifier_rules_keep_names_out_of_paths() {
        assert!(identifier("flow", "deliver-2_b").is_ok());
        for bad in ["..", "a/b", "../x", "a\nb", "a\u{1b}b", "", "1st"] {
            assert!(identifier("flow", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn consumer_group_rules() {
        assert!(consumer_group("s3-sink").is_ok());
        assert!(consumer_group("team.s3:sink").is_ok());
        assert_eq!(
            consumer_group(" ").unwrap_err(),
            "the consumer group may not be empty"
        );
        assert_eq!(
            consumer_group("../../etc").unwrap_err(),
            "the consumer group '../../etc' holds '/'; a group name is one name, not a path"
        );
        assert_eq!(
            consumer_group("sink..old").unwrap_err(),
            "the consumer group 'sink..old' may not hold '..'"
        );
        assert!(consumer_group("a\\b").is_err());
        assert_eq!(
            consumer_group("s3\u{1b}sink").unwrap_err(),
            "the consumer group 's3\\u{1b}sink' holds the control character '\\u{1b}'"
        );
    }

    #[test]
    fn key_prefix_rules() {
        for good in ["historical/", "data/incremental/", "a.b/c..d/"] {
            assert!(key_prefix(good).is_ok(), "{good}");
        }
        let cases = [
            ("/abs/", "prefix '/abs/' must not start with '/'"),
            ("historical", "prefix 'historical' must end with '/'"),
            ("", "prefix '' must end with '/'"),
            ("a//b/", "prefix 'a//b/' has an empty segment ('//')"),
            (
                "a/../../",
                "prefix 'a/../../' has a '..' segment; a prefix may not climb out of the bucket's keys",
            ),
            (
                "./",
                "prefix './' has a '.' segment; a prefix may not climb out of the bucket's keys",
            ),
            ("a\nb/", "prefix 'a\\nb/' holds the control character '\\n'"),
        ];
        for (prefix, message) in cases {
            assert_eq!(key_prefix(prefix).unwrap_err(), message, "{prefix:?}");
        }
    }
}
