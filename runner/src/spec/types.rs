//! Small value types of the pipeline file: durations, sizes, secrets and scalars.
//!
//! Each one parses itself from YAML and describes itself in the JSON Schema, so an
//! editor and `runner validate` agree on what is accepted.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern a duration must match (also written into the JSON Schema).
pub const DURATION_PATTERN: &str = r"^\s*([0-9]+\s*(ms|s|m|h|d)\s*)+$";

/// The pattern a size must match (also written into the JSON Schema).
pub const SIZE_PATTERN: &str = r"^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?\s*$";

/// A length of time written with a unit: `500ms`, `60s`, `5m`, `1h`, `1d`, or `1h 30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let valid = regex::Regex::new(DURATION_PATTERN).map_err(|e| e.to_string())?;
        if !valid.is_match(text) {
            return Err(format!(
                "'{text}' is not a duration: write a number and a unit (ms, s, m, h, d), e.g. 60s or 5m"
            ));
        }
        humantime::parse_duration(text.trim())
            .map(Duration)
            .map_err(|e| format!("'{text}' is not a duration: {e}"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. `60s`, `5m`, `1h 30m`.",
            "examples": ["60s", "5m", "1h"]
        })
    }
}

/// A number of bytes written with an optional unit: `1048576`, `64MiB`, `1GB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let valid = regex::Regex::new(SIZE_PATTERN).map_err(|e| e.to_string())?;
        if !valid.is_match(text) {
            return Err(format!(
                "'{text}' is not a size: write a number and an optional unit, e.g. 64MiB or 1GB"
            ));
        }
        text.trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| Size(b.as_u64()))
            .map_err(|e| format!("'{text}' is not a size: {e}"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => Ok(Size(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size in bytes: a plain number, or a number and a unit (B, KB, KiB, MB, MiB, GB, GiB), e.g. `64MiB`.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": SIZE_PATTERN }
            ],
            "examples": ["64MiB", "1GB"]
        })
    }
}

/// A secret such as an API token or a password.
///
/// It never prints its value: `Debug`, `Display` and serialization all show `***`.
/// Only [`Secret::expose`] gives the value, for the one call that sends it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value as a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret's value, for the request that needs it; never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is empty (e.g. `${TOKEN:-}` with `TOKEN` unset).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// Takes text, or a number or boolean as its text (`${TOKEN}` may look like a number),
    /// so a secret's value is never shown in a type error.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Text(text) => Ok(Secret(text)),
            other => Ok(Secret(other.to_string())),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "number", "boolean"],
            "description": "A secret value. Write it as an environment reference such as `${SOCRATA_APP_TOKEN}`; runner never prints it."
        })
    }
}

/// A plain YAML scalar: text, number or boolean (used for defaults and broker configs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// Text.
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Text(t) => f.write_str(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!("60s".parse::<Duration>().unwrap().0.as_secs(), 60);
        assert_eq!("5m".parse::<Duration>().unwrap().0.as_secs(), 300);
        assert_eq!("1h 30m".parse::<Duration>().unwrap().0.as_secs(), 5400);
        assert_eq!("250ms".parse::<Duration>().unwrap().0.as_millis(), 250);
        let err = "5 minutes".parse::<Duration>().unwrap_err();
        assert!(err.contains("not a duration"), "{err}");
        assert!("60".parse::<Duration>().is_err());
    }

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        assert_eq!("64MiB".parse::<Size>().unwrap().0, 64 * 1024 * 1024);
        assert_eq!("1GB".parse::<Size>().unwrap().0, 1_000_000_000);
        assert_eq!("1024".parse::<Size>().unwrap().0, 1024);
        assert!("lots".parse::<Size>().is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
        let numeric: Secret = serde_json::from_str("12345").unwrap();
        assert_eq!(numeric.expose(), "12345");
    }
}
