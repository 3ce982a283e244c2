//! Partition projection as Athena enumerates it: for a table with `projection: true`, Athena
//! does not list folders but computes the partition values from each key's rule (an
//! integer range, a date range up to today, a list of values). A folder the flows wrote
//! outside those values holds rows Athena never reads, so the flows report such folders
//! (`unprojected` in their summary).

use chrono::NaiveDate;

use super::glue::{PartitionKey, partition_keys};
use crate::spec::{Dataset, Layout};

/// How Athena enumerates one projected partition key.
#[derive(Clone, Debug, PartialEq)]
enum Rule {
    /// `type: integer` over `min..=max`.
    Integer(i64, i64),
    /// `type: date` over a range of days; `None` as the end is `NOW`.
    Date(NaiveDate, Option<NaiveDate>),
    /// `type: enum` over these values.
    Enum(Vec<String>),
    /// `type: injected`: whatever a query's `WHERE` gives.
    Injected,
}

impl Rule {
    /// The rule of `key`'s projection parameters.
    fn of(key: &PartitionKey) -> Rule {
        let setting = |name: &str| {
            key.projection
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        let (low, high) = setting("range").split_once(',').unwrap_or_default();
        match setting("type") {
            "integer" => Rule::Integer(
                low.trim().parse().unwrap_or(i64::MIN),
                high.trim().parse().unwrap_or(i64::MAX),
            ),
            "date" => Rule::Date(
                NaiveDate::parse_from_str(low.trim(), "%Y-%m-%d").unwrap_or(NaiveDate::MIN),
                NaiveDate::parse_from_str(high.trim(), "%Y-%m-%d").ok(),
            ),
            "enum" => Rule::Enum(setting("values").split(',').map(str::to_owned).collect()),
            _ => Rule::Injected,
        }
    }

    /// Whether Athena enumerates `value` (as written in the folder name) on `today`.
    fn sees(&self, value: &str, today: NaiveDate) -> bool {
        match self {
            Rule::Integer(min, max) => value.parse::<i64>().is_ok_and(|v| *min <= v && v <= *max),
            Rule::Date(start, end) => NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .is_ok_and(|d| *start <= d && d <= end.unwrap_or(today)),
            Rule::Enum(values) => values.iter().any(|v| v == value),
            Rule::Injected => true,
        }
    }
}

/// The partition folder of object `key` under `prefix` (`year=2024/month=3/`, empty for a
/// key right under it) and its `name=value` segments in order; `None` for a key outside the
/// prefix or in a folder that is not `name=value` (the quarantine).
pub fn partition_folder<'k>(
    prefix: &str,
    key: &'k str,
) -> Option<(&'k str, Vec<(&'k str, &'k str)>)> {
    let relative = key.strip_prefix(prefix)?;
    let folder = &relative[..relative.rfind('/').map_or(0, |end| end + 1)];
    let segments = folder
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.split_once('='))
        .collect::<Option<Vec<_>>>()?;
    Some((folder, segments))
}

/// The partition folders (relative to the layout's prefix, `year=2150/month=1/`) among the
/// object keys `written` that a projected table over `layout` of `dataset` rows does not
/// enumerate on `today`, sorted and each once.
pub fn unprojected(
    layout: &Layout,
    dataset: &Dataset,
    written: &[String],
    today: NaiveDate,
) -> Vec<String> {
    let rules: Vec<(String, Rule)> = partition_keys(layout, dataset)
        .iter()
        .map(|key| (key.name.clone(), Rule::of(key)))
        .collect();
    if rules.is_empty() {
        return Vec::new();
    }
    let mut unseen: Vec<String> = written
        .iter()
        .filter_map(|key| {
            // Keys outside `name=value` folders (the quarantine) belong to no partition.
            let (folder, segments) = partition_folder(&layout.prefix, key)?;
            let seen = segments.iter().all(|(name, value)| {
                rules
                    .iter()
                    .find(|(n, _)| n == name)
                    .is_none_or(|(_, rule)| rule.sees(value, today))
            });
            (!segments.is_empty() && !seen).then(|| folder.to_owned())
        })
        .collect();
    unseen.sort();
    unseen.dedup();
    unseen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_outside_the_projection_are_named_and_the_rest_are_not() {
        let seattle = crate::load::seattle_pipeline();
        let storage = seattle.storage.as_ref().expect("storage");
        let dataset = &seattle.datasets["offenses"];
        let today = NaiveDate::from_ymd_opt(2026, 12, 8).expect("a date");
        let historical = &storage.layouts["historical"];
        let written = [
            "historical/year=2023/month=5/a.parquet",
            "historical/year=2150/month=1/b.parquet",
            "historical/year=1899/month=12/c.parquet",
            "historical/year=__HIVE_DEFAULT_PARTITION__/month=1/d.parquet",
            "historical/year=2023/month=5/e.parquet",
            "historical/_rejects/backfill/f.jsonl",
        ]
        .map(String::from);
        assert_eq!(
            unprojected(historical, dataset, &written, today),
            [
                "year=1899/month=12/",
                "year=2150/month=1/",
                "year=__HIVE_DEFAULT_PARTITION__/month=1/"
            ]
        );
        let incremental = &storage.layouts["incremental"];
        let written = [
            "incremental_data/report_date=2026-12-08/a.jsonl",
            "incremental_data/report_date=2026-12-09/b.jsonl",
        ]
        .map(String::from);
        assert_eq!(
            unprojected(incremental, dataset, &written, today),
            ["report_date=2026-12-09/"],
            "a date after today is not enumerated (range ends at NOW)"
        );
    }
}
