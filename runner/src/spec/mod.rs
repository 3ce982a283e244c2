//! The pipeline file as Rust types: the single source of truth for parsing, the JSON
//! Schema (`runner schema`) and the documentation of every key.
//!
//! Every struct denies unknown keys and every field's `///` comment becomes its schema
//! description, which editors show through yaml-language-server.

pub mod catalog;
pub mod check;
pub mod dataset;
pub mod flow;
pub mod query;
pub mod resolve;
pub mod rule_test;
pub mod source;
pub mod storage;
pub mod target;
pub mod topic;
pub mod types;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use catalog::{Catalog, Table};
pub use dataset::{Dataset, Field, FieldType};
pub use flow::Flow;
pub use query::{Chart, Dashboard, Panel, Query};
pub use source::{Source, SourceKind};
pub use storage::{Format, Layout, Storage};
pub use target::Target;
pub use topic::Topic;

/// A runner pipeline: sources, cleaning rules, topics, storage, catalog, flows, queries,
/// dashboard and targets, in one YAML file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runner pipeline")]
pub struct Pipeline {
    /// The pipeline's name (lowercase letters, digits and `-`); resources runner creates are
    /// tagged with it.
    #[schemars(extend("x-runner-public" = true))]
    pub pipeline: String,
    /// What the pipeline does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Named sources records are read from.
    #[serde(default)]
    pub sources: IndexMap<String, Source>,
    /// Named datasets: the cleaning rules and typed output of records.
    #[serde(default)]
    pub datasets: IndexMap<String, Dataset>,
    /// Kafka topics by name.
    #[serde(default)]
    pub topics: IndexMap<String, Topic>,
    /// The bucket and file layouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// The Glue database and tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Catalog>,
    /// Named data flows (`runner run NAME`).
    #[serde(default)]
    pub flows: IndexMap<String, Flow>,
    /// Named SQL queries (`runner query NAME`).
    #[serde(default)]
    pub queries: IndexMap<String, Query>,
    /// The dashboard (`runner dashboard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<Dashboard>,
    /// Remote targets by name (`--target NAME`). The embedded `local` target is built in.
    #[serde(default)]
    pub targets: IndexMap<String, Target>,
    /// Tests of the datasets' cleaning rules by name (`runner test`): a raw row and what
    /// the rules must make of it.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tests: IndexMap<String, rule_test::RuleTest>,
}

/// The JSON Schema of a pipeline file (draft-07, which yaml-language-server understands).
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07()
        .for_deserialize()
        .into_generator();
    let schema = generator.into_root_schema_for::<Pipeline>();
    schema.to_value()
}

impl Pipeline {
    /// The dataset of a deliver flow's records: its own `dataset`, or the dataset of the
    /// ingest flow that produces to its topic.
    pub fn deliver_dataset<'a>(&'a self, flow: &'a flow::DeliverFlow) -> Option<&'a str> {
        flow.dataset.as_deref().or_else(|| {
            self.flows.values().find_map(|f| match f {
                Flow::Ingest(ingest) if ingest.to_topic == flow.from_topic => {
                    Some(ingest.clean.as_str())
                }
                _ => None,
            })
        })
    }

    /// The datasets whose rows end up in `layout`: through backfill and deliver flows and
    /// through the catalog tables over it.
    pub fn layout_datasets(&self, layout: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for flow in self.flows.values() {
            let dataset = match flow {
                Flow::Backfill(f) if f.to == layout => Some(f.clean.as_str()),
                Flow::Deliver(f) if f.to == layout => self.deliver_dataset(f),
                _ => None,
            };
            out.extend(dataset);
        }
        if let Some(catalog) = &self.catalog {
            out.extend(
                catalog
                    .tables
                    .values()
                    .filter(|t| t.layout == layout)
                    .map(|t| t.dataset.as_str()),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
