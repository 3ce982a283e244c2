//! References between sections: flows, tables and panels name things that exist and fit;
//! plus the settings of topics, layouts and targets that the services would refuse.

use std::collections::HashMap;

use super::{Ctx, names, ptr};
use crate::spec::flow::Flow;
use crate::spec::query::Chart;
use crate::spec::source::{Source, SourceKind};
use crate::spec::storage::{Codec, Format};
use crate::suggest::did_you_mean;

/// Topic-level configs Kafka knows (KIP-defined names of Apache Kafka 3.x/4.x).
const TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
    "message.downconversion.enable",
];

/// Checks references and service settings.
pub(super) fn check_references(ctx: &mut Ctx<'_>) {
    check_topics(ctx);
    check_layouts(ctx);
    check_layout_schemas(ctx);
    check_sources(ctx);
    check_flows(ctx);
    check_tables(ctx);
    check_dashboard(ctx);
    check_targets(ctx);
    check_rule_tests(ctx);
}

/// Rule tests name a dataset, expect exactly one of `row` and `rejected`, and name fields of
/// the dataset there.
fn check_rule_tests(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    for (name, test) in &p.tests {
        let at = ptr(&["tests", name]);
        reference(
            ctx,
            &format!("{at}/dataset"),
            "dataset",
            &test.dataset,
            p.datasets.keys(),
        );
        let expect = &test.expect;
        if expect.row.is_some() == expect.rejected.is_some() {
            ctx.error(
                &format!("{at}/expect"),
                true,
                "expect either `row` (the cleaned values) or `rejected` (the field that rejects the row)",
            );
        }
        let Some(dataset) = p.datasets.get(&test.dataset) else {
            continue;
        };
        for field in expect.row.iter().flat_map(|row| row.keys()) {
            reference(
                ctx,
                &format!("{at}/expect/row/{field}"),
                "field",
                field,
                dataset.fields.keys(),
            );
        }
        if let Some(rejected) = &expect.rejected {
            reference(
                ctx,
                &format!("{at}/expect/rejected/field"),
                "field",
                &rejected.field,
                dataset.fields.keys(),
            );
        }
    }
}

/// Reports `name` at `at` unless it is one of `known`, with a suggestion.
fn reference<'k>(
    ctx: &mut Ctx<'_>,
    at: &str,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'k String> + Clone,
) {
    if known.clone().any(|k| k == name) {
        return;
    }
    let names: Vec<&str> = known.map(String::as_str).collect();
    let hint = did_you_mean(name, names.iter().copied()).or_else(|| {
        if names.is_empty() {
            Some(format!("declare a {what} first"))
        } else {
            Some(format!("declared {what}s: {}", names.join(", ")))
        }
    });
    ctx.error(at, false, format!("unknown {what} '{name}'"))
        .hint = hint;
}

fn check_topics(ctx: &mut Ctx<'_>) {
    for (name, topic) in &ctx.pipeline.topics {
        for key in topic.config.keys() {
            if !TOPIC_CONFIGS.contains(&key.as_str()) {
                let hint = did_you_mean(key, TOPIC_CONFIGS.iter().copied());
                ctx.warning(
                    &ptr(&["topics", name, "config", key]),
                    true,
                    format!("'{key}' is not a Kafka topic config"),
                )
                .hint = hint;
            }
        }
    }
}

fn check_layouts(ctx: &mut Ctx<'_>) {
    let Some(storage) = &ctx.pipeline.storage else {
        return;
    };
    for (name, layout) in &storage.layouts {
        let at = ptr(&["storage/layouts", name]);
        if let Err(message) = names::key_prefix(&layout.prefix) {
            ctx.error(&format!("{at}/prefix"), false, message).hint =
                Some("e.g. `prefix: historical/` or `prefix: data/historical/`".into());
        }
        // JSON lines are written, and read by the embedded engine, uncompressed.
        if let Some(codec) = layout.compression
            && codec != Codec::None
            && layout.format != Format::Parquet
        {
            ctx.error(
                &format!("{at}/compression"),
                false,
                format!(
                    "{} compression needs the parquet format, not {}",
                    codec.as_str(),
                    layout.format.as_str()
                ),
            )
            .hint = Some("use `format: parquet` for this codec, or `compression: none`".into());
        }
        if let Some(rotate) = &layout.rotate
            && rotate.max_records.is_none()
            && rotate.max_bytes.is_none()
            && rotate.max_age.is_none()
        {
            ctx.warning(&format!("{at}/rotate"), true, "`rotate` sets no limit")
                .hint = Some("set max_records, max_bytes or max_age".into());
        }
    }
}

/// Datasets written to one layout must agree on their output columns, since one table reads
/// all its files.
fn check_layout_schemas(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    let Some(storage) = &p.storage else { return };
    for layout in storage.layouts.keys() {
        let datasets = p.layout_datasets(layout);
        let Some((first_name, first)) = datasets
            .iter()
            .find_map(|d| p.datasets.get(*d).map(|ds| (*d, ds)))
        else {
            continue;
        };
        for name in &datasets {
            let Some(other) = p.datasets.get(*name) else {
                continue;
            };
            let columns = |d: &crate::spec::Dataset| -> Vec<(String, &'static str)> {
                d.fields
                    .iter()
                    .map(|(n, f)| (n.clone(), f.kind.as_str()))
                    .collect()
            };
            if columns(other) != columns(first) {
                ctx.error(&ptr(&["datasets", name, "fields"]), true, format!(
                    "datasets '{first_name}' and '{name}' both write to layout '{layout}' but their fields differ"
                ))
                .hint = Some("files under one layout share one table: give both datasets the same field names, types and order".into());
            }
        }
    }
}

fn check_sources(ctx: &mut Ctx<'_>) {
    for (name, source) in &ctx.pipeline.sources {
        let at = ptr(&["sources", name]);
        match source {
            Source::Csv(csv) => {
                if !csv.delimiter.is_ascii() {
                    ctx.error(
                        &format!("{at}/delimiter"),
                        false,
                        "the delimiter must be one ASCII character",
                    );
                }
                if let Some((scheme, _)) = csv.path.split_once("://")
                    && !matches!(scheme, "http" | "https" | "s3")
                {
                    ctx.error(
                        &format!("{at}/path"),
                        false,
                        format!(
                            "unsupported URL scheme '{scheme}'; use a path, http(s):// or s3://"
                        ),
                    );
                }
                if let Some(rest) = csv.path.strip_prefix("s3://")
                    && !rest
                        .split_once('/')
                        .is_some_and(|(b, k)| !b.is_empty() && !k.is_empty())
                {
                    ctx.error(
                        &format!("{at}/path"),
                        false,
                        "an s3 path needs a bucket and a key: s3://bucket/key",
                    );
                }
            }
            Source::Socrata(soda) => {
                let ok = (soda.url.starts_with("https://") || soda.url.starts_with("http://"))
                    && soda.url.contains("/resource/")
                    && soda.url.ends_with(".json");
                if !ok {
                    ctx.error(
                        &format!("{at}/url"),
                        false,
                        format!("'{}' is not a SODA resource URL", soda.url),
                    )
                    .hint = Some("e.g. https://data.seattle.gov/resource/tazs-3rd5.json".into());
                }
            }
        }
    }
}

fn check_flows(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    let layouts: Vec<String> = p
        .storage
        .iter()
        .flat_map(|s| s.layouts.keys().cloned())
        .collect();
    for (name, flow) in &p.flows {
        let at = ptr(&["flows", name]);
        let errors_before = ctx.errors();
        match flow {
            Flow::Backfill(f) => {
                source_and_dataset(
                    ctx,
                    &at,
                    (&f.from, &f.clean),
                    SourceKind::Csv,
                    "a backfill reads",
                );
                reference(ctx, &format!("{at}/to"), "layout", &f.to, layouts.iter());
                check_written_layout(ctx, &format!("{at}/to"), flow, &f.to);
            }
            Flow::Ingest(f) => {
                source_and_dataset(
                    ctx,
                    &at,
                    (&f.from, &f.clean),
                    SourceKind::Socrata,
                    "an ingest polls",
                );
                reference(
                    ctx,
                    &format!("{at}/to_topic"),
                    "topic",
                    &f.to_topic,
                    p.topics.keys(),
                );
            }
            Flow::Deliver(f) => {
                reference(
                    ctx,
                    &format!("{at}/from_topic"),
                    "topic",
                    &f.from_topic,
                    p.topics.keys(),
                );
                reference(ctx, &format!("{at}/to"), "layout", &f.to, layouts.iter());
                check_written_layout(ctx, &format!("{at}/to"), flow, &f.to);
                ctx.rule(
                    &format!("{at}/group"),
                    false,
                    names::consumer_group(&f.group),
                );
                match &f.dataset {
                    Some(dataset) => reference(
                        ctx,
                        &format!("{at}/dataset"),
                        "dataset",
                        dataset,
                        p.datasets.keys(),
                    ),
                    None if p.topics.contains_key(&f.from_topic)
                        && p.deliver_dataset(f).is_none() =>
                    {
                        ctx.error(&at, true, format!("no ingest flow produces to '{}', so the dataset of its records is unknown", f.from_topic))
                            .hint = Some("add `dataset: NAME` to this flow".into());
                    }
                    None => {}
                }
            }
        }
        // What `runner run` hands the flow; a flow the checks above passed that still
        // does not resolve (a missing `storage`) is reported here.
        if ctx.errors() == errors_before
            && let Err(e) = p.resolve(name)
        {
            ctx.error(&at, true, e);
        }
    }
}

/// The source a flow at `at` reads and the dataset it cleans by (`from`, `clean`): both
/// exist, and the source is of the `kind` the flow needs (`reads` says how: "a backfill
/// reads").
fn source_and_dataset(
    ctx: &mut Ctx<'_>,
    at: &str,
    (from, clean): (&str, &str),
    kind: SourceKind,
    reads: &str,
) {
    let p = ctx.pipeline;
    reference(ctx, &format!("{at}/from"), "source", from, p.sources.keys());
    if let Some(source) = p.sources.get(from)
        && source.kind() != kind
    {
        let message = format!(
            "{reads} a {} source; '{from}' is {}",
            kind.as_str(),
            source.kind().as_str()
        );
        ctx.error(&format!("{at}/from"), false, message);
    }
    reference(
        ctx,
        &format!("{at}/clean"),
        "dataset",
        clean,
        p.datasets.keys(),
    );
}

/// `flow`'s layout `name` (at `at`) is one the flow writes: a backfill writes Parquet; a
/// deliver writes JSON lines or Parquet. A codec on JSON lines is the layout's own error
/// (see [`check_layouts`]).
fn check_written_layout(ctx: &mut Ctx<'_>, at: &str, flow: &Flow, name: &str) {
    let Some(layout) = ctx
        .pipeline
        .storage
        .as_ref()
        .and_then(|s| s.layouts.get(name))
    else {
        return;
    };
    if matches!(flow, Flow::Backfill(_)) && layout.format != Format::Parquet {
        let message = format!(
            "a backfill writes parquet layouts; '{name}' is {}",
            layout.format.as_str()
        );
        ctx.error(at, false, message).hint = Some("use `format: parquet` for this layout".into());
    }
}

fn check_tables(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    let Some(catalog) = &p.catalog else { return };
    let layouts: Vec<String> = p
        .storage
        .iter()
        .flat_map(|s| s.layouts.keys().cloned())
        .collect();
    if p.storage.is_none() && !catalog.tables.is_empty() {
        ctx.error(
            "/catalog",
            true,
            "catalog tables describe files in `storage`, which is missing",
        );
    }
    for (name, table) in &catalog.tables {
        let at = ptr(&["catalog", "tables", name]);
        reference(
            ctx,
            &format!("{at}/dataset"),
            "dataset",
            &table.dataset,
            p.datasets.keys(),
        );
        reference(
            ctx,
            &format!("{at}/layout"),
            "layout",
            &table.layout,
            layouts.iter(),
        );
        let layout = p
            .storage
            .as_ref()
            .and_then(|s| s.layouts.get(&table.layout));
        if table.projection && layout.is_some_and(|l| l.partition_by.is_empty()) {
            ctx.warning(
                &format!("{at}/projection"),
                false,
                format!("layout '{}' has no partitions to project", table.layout),
            );
        }
        if let (true, Some(layout), Some(dataset)) =
            (table.projection, layout, p.datasets.get(&table.dataset))
        {
            check_projection(ctx, &at, layout, dataset);
        }
        check_data_checks(ctx, &at, table, layout);
    }
}

/// Each data check of a table gives exactly one kind, and names columns the table has (its
/// dataset's fields and its layout's partition keys).
fn check_data_checks(
    ctx: &mut Ctx<'_>,
    at: &str,
    table: &crate::spec::Table,
    layout: Option<&crate::spec::Layout>,
) {
    let mut columns: Vec<String> = ctx
        .pipeline
        .datasets
        .get(&table.dataset)
        .map(|d| d.fields.keys().cloned().collect())
        .unwrap_or_default();
    columns.extend(
        layout
            .iter()
            .flat_map(|l| l.partition_by.iter())
            .filter_map(|segment| segment.split_once('=').map(|(key, _)| key.to_owned())),
    );
    for (i, check) in table.checks.iter().enumerate() {
        let here = format!("{at}/checks/{i}");
        if check.kinds() != 1 {
            ctx.error(
                &here,
                false,
                "a check is exactly one of not_null, unique, accepted_values, range, row_count, freshness and sql",
            );
            continue;
        }
        for column in check.columns() {
            if !columns.iter().any(|c| c == column) {
                let message = format!("the table has no column '{column}'");
                ctx.error(&here, false, message).hint =
                    did_you_mean(column, columns.iter().map(String::as_str));
            }
        }
    }
}

/// What Athena's projection of a table over `layout` would miss: a key whose field may be
/// NULL puts those rows in `key=__HIVE_DEFAULT_PARTITION__`, a value the projection never
/// enumerates; a key projected as `injected` (text without `allowed` values) answers only
/// queries that filter it with `=`. Warnings at the table's `projection`.
fn check_projection(
    ctx: &mut Ctx<'_>,
    at: &str,
    layout: &crate::spec::Layout,
    dataset: &crate::spec::Dataset,
) {
    for segment in &layout.partition_by {
        let Some((key, template)) = segment.split_once('=') else {
            continue;
        };
        let Some((field_name, _)) = crate::resource::glue::template_field(template) else {
            continue;
        };
        if dataset.fields.get(field_name).is_some_and(|f| !f.required) {
            ctx.warning(
                &format!("{at}/projection"),
                false,
                format!(
                    "rows with no {field_name} are written to {key}={}, which the projection does not enumerate: Athena does not read them",
                    crate::flow::partition::NULL_PARTITION
                ),
            )
            .hint = Some(format!(
                "make '{field_name}' required (its rows without one are then quarantined), or turn projection off so partitions are registered"
            ));
        }
    }
    let keys = crate::resource::glue::partition_keys(layout, dataset);
    for key in keys
        .iter()
        .filter(|k| k.projection.contains(&("type", "injected".into())))
    {
        ctx.warning(
            &format!("{at}/projection"),
            false,
            format!(
                "partition '{}' is projected as injected: Athena answers only queries that filter it with `=` (the embedded engine answers the others)",
                key.name
            ),
        )
        .hint = Some("give its field `allowed` values, or turn projection off so partitions are registered".into());
    }
}

fn check_dashboard(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    let Some(dashboard) = &p.dashboard else {
        return;
    };
    for (i, panel) in dashboard.panels.iter().enumerate() {
        let at = ptr(&["dashboard", "panels", &i.to_string()]);
        reference(
            ctx,
            &format!("{at}/query"),
            "query",
            &panel.query,
            p.queries.keys(),
        );
        let needs: &[(&str, &Option<String>)] = match panel.chart {
            Chart::Bar | Chart::Line => &[("x", &panel.x), ("y", &panel.y)],
            Chart::Map => &[("lat", &panel.lat), ("lon", &panel.lon)],
            Chart::Table | Chart::Number => &[],
        };
        for (key, value) in needs {
            if value.is_none() {
                ctx.error(
                    &format!("{at}/chart"),
                    false,
                    format!(
                        "a {} panel needs `{key}`: the column to plot",
                        panel.chart.as_str()
                    ),
                );
            }
        }
    }
}

fn check_targets(ctx: &mut Ctx<'_>) {
    for (name, target) in &ctx.pipeline.targets {
        let at = ptr(&["targets", name]);
        if let Some(endpoint) = &target.endpoint
            && !endpoint.is_empty()
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            ctx.error(
                &format!("{at}/endpoint"),
                false,
                format!("endpoint '{endpoint}' must be an http:// or https:// URL"),
            );
        }
        if let Some(athena) = &target.athena
            && let Some(location) = &athena.output_location
            && !location.is_empty()
            && !location.starts_with("s3://")
        {
            ctx.error(
                &format!("{at}/athena/output_location"),
                false,
                "the Athena output location must be an s3:// URL",
            );
        }
        if let Some(kafka) = &target.kafka {
            check_kafka_properties(ctx, name, kafka);
        }
        if let Some(kafka) = &target.kafka
            && !kafka.bootstrap.is_empty()
        {
            for server in kafka.bootstrap.split(',') {
                let ok = server
                    .trim()
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if !ok {
                    ctx.error(
                        &format!("{at}/kafka/bootstrap"),
                        false,
                        format!("bootstrap server '{}' is not host:port", server.trim()),
                    );
                }
            }
        }
    }
}

/// The `kafka.properties` of target `name`: each a property librdkafka knows, with a value
/// it takes, given under one of its names only, and not one the delivery guarantee rests
/// on (see [`crate::backend::kafka::settings`]).
fn check_kafka_properties(ctx: &mut Ctx<'_>, name: &str, kafka: &crate::spec::target::Kafka) {
    // librdkafka's names of one property, and the first of them given.
    let mut given: HashMap<&str, &str> = HashMap::new();
    for (key, value) in &kafka.properties {
        let pointer = ptr(&["targets", name, "kafka", "properties", key]);
        let property = crate::backend::kafka::settings::canonical(key);
        if let Some(&first) = given.get(property) {
            ctx.error(
                &pointer,
                true,
                format!(
                    "kafka property '{key}' is '{first}' again (librdkafka takes both \
                     for '{property}'), and which one wins is left to chance"
                ),
            )
            .hint = Some(format!("keep one of `{first}` and `{key}`"));
            continue;
        }
        given.insert(property, key);
        // The variables of a target other than `--target` names are not resolved
        // here: such a value is empty, and only its name can be checked.
        let value = value.expose();
        let resolved = !value.trim().is_empty();
        if let Some((message, on_name)) = crate::backend::kafka::settings::objection(key, value)
            && (on_name || resolved)
        {
            let hint = match (on_name, property) {
                (true, _) => Some("librdkafka's CONFIGURATION.md lists its properties"),
                (false, "compression.type") => {
                    Some("runner's librdkafka has none, lz4, snappy and gzip (no zstd)")
                }
                (false, _) => None,
            };
            ctx.error(&pointer, on_name, format!("librdkafka: {message}"))
                .hint = hint.map(str::to_owned);
            continue;
        }
        if let Some(reason) = crate::backend::kafka::settings::refusal(key, value) {
            // The value may be a secret: it is not repeated.
            ctx.error(
                &pointer,
                true,
                format!("kafka property '{key}' cannot be set this way: {reason}"),
            )
            .hint = Some(format!("remove `{key}` from the target's kafka properties"));
        }
    }
}
