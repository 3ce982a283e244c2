//! A flow with the parts of the pipeline it names looked up: what `runner run` hands a flow,
//! so that no flow looks a name up again. `check` reports a flow that does not resolve as
//! a finding of `runner validate` (`check::refs`), so a validated pipeline's flows all
//! resolve.

use super::flow::{BackfillFlow, DeliverFlow, Flow, IngestFlow};
use super::source::{CsvSource, SocrataSource};
use super::{Dataset, Layout, Pipeline, Source};

/// A flow and the parts it names.
#[derive(Debug)]
pub enum Resolved<'p> {
    /// A backfill flow.
    Backfill(Backfill<'p>),
    /// An ingest flow.
    Ingest(Ingest<'p>),
    /// A deliver flow.
    Deliver(Deliver<'p>),
}

/// A backfill: its CSV source, its dataset and where it writes.
#[derive(Debug)]
pub struct Backfill<'p> {
    /// The pipeline's name.
    pub pipeline: &'p str,
    /// The flow's name.
    pub name: &'p str,
    /// The flow as written.
    pub flow: &'p BackfillFlow,
    /// The source it reads.
    pub source: &'p CsvSource,
    /// The dataset its rows are cleaned by.
    pub dataset: &'p Dataset,
    /// Where it writes.
    pub sink: Sink<'p>,
}

/// An ingest: its Socrata source, its dataset, and the bucket of its state.
#[derive(Debug)]
pub struct Ingest<'p> {
    /// The pipeline's name.
    pub pipeline: &'p str,
    /// The flow's name.
    pub name: &'p str,
    /// The flow as written.
    pub flow: &'p IngestFlow,
    /// The source it polls.
    pub source: &'p SocrataSource,
    /// The dataset its rows are cleaned by.
    pub dataset: &'p Dataset,
    /// The bucket that keeps its watermark and its rejected rows.
    pub bucket: &'p str,
    /// The prefix its rejected rows go under: the layout of the deliver flow that reads its
    /// topic, so they sit beside the rows delivered (empty when no deliver reads it).
    pub rejects_prefix: &'p str,
}

/// A deliver: its records' dataset and where it writes.
#[derive(Debug)]
pub struct Deliver<'p> {
    /// The pipeline's name.
    pub pipeline: &'p str,
    /// The flow's name.
    pub name: &'p str,
    /// The flow as written.
    pub flow: &'p DeliverFlow,
    /// The dataset of the records in its topic.
    pub dataset: &'p Dataset,
    /// Where it writes.
    pub sink: Sink<'p>,
}

/// Where a flow writes: the bucket, the layout, and the catalog tables over the layout
/// whose partitions the flow registers.
#[derive(Debug)]
pub struct Sink<'p> {
    /// The bucket.
    pub bucket: &'p str,
    /// The layout's name.
    pub layout_name: &'p str,
    /// The layout.
    pub layout: &'p Layout,
    /// The catalog's database and the tables over the layout that do not use partition
    /// projection (which need every new partition registered); `None` without a catalog.
    pub registered: Option<(&'p str, Vec<&'p str>)>,
    /// Whether a catalog table over the layout uses partition projection (whose rules must
    /// enumerate every folder written).
    pub projected: bool,
}

impl Pipeline {
    /// Flow `name` with the parts it names, or why it cannot run (a reference `check`
    /// reports first).
    pub fn resolve(&self, name: &str) -> Result<Resolved<'_>, String> {
        let (name, flow) = self
            .flows
            .get_key_value(name)
            .ok_or_else(|| format!("pipeline '{}' has no flow '{name}'", self.pipeline))?;
        let dataset = |dataset: &str| {
            self.datasets
                .get(dataset)
                .ok_or_else(|| format!("flow '{name}': no dataset '{dataset}'"))
        };
        let bucket = || {
            self.storage
                .as_ref()
                .map(|s| s.bucket.as_str())
                .ok_or_else(|| {
                    format!(
                        "flow '{name}' keeps its watermark and rejected rows in the pipeline's bucket: declare `storage`"
                    )
                })
        };
        Ok(match flow {
            Flow::Backfill(flow) => {
                let Some(Source::Csv(source)) = self.sources.get(&flow.from) else {
                    return Err(format!(
                        "flow '{name}': '{}' is not a csv source",
                        flow.from
                    ));
                };
                Resolved::Backfill(Backfill {
                    pipeline: &self.pipeline,
                    name,
                    flow,
                    source,
                    dataset: dataset(&flow.clean)?,
                    sink: self.sink(name, &flow.to)?,
                })
            }
            Flow::Ingest(flow) => {
                let Some(Source::Socrata(source)) = self.sources.get(&flow.from) else {
                    return Err(format!(
                        "flow '{name}': '{}' is not a socrata source",
                        flow.from
                    ));
                };
                let rejects_prefix = self
                    .flows
                    .values()
                    .find_map(|f| match f {
                        Flow::Deliver(d) if d.from_topic == flow.to_topic => self
                            .storage
                            .as_ref()
                            .and_then(|s| s.layouts.get(&d.to))
                            .map(|l| l.prefix.as_str()),
                        _ => None,
                    })
                    .unwrap_or_default();
                Resolved::Ingest(Ingest {
                    pipeline: &self.pipeline,
                    name,
                    flow,
                    source,
                    dataset: dataset(&flow.clean)?,
                    bucket: bucket()?,
                    rejects_prefix,
                })
            }
            Flow::Deliver(flow) => {
                let records = self.deliver_dataset(flow).ok_or_else(|| {
                    format!(
                        "flow '{name}': no ingest flow writes topic '{}'; name the records' dataset with `dataset:`",
                        flow.from_topic
                    )
                })?;
                Resolved::Deliver(Deliver {
                    pipeline: &self.pipeline,
                    name,
                    flow,
                    dataset: dataset(records)?,
                    sink: self.sink(name, &flow.to)?,
                })
            }
        })
    }

    /// Layout `layout_name` of flow `flow` with its bucket and the tables registered.
    fn sink(&self, flow: &str, layout_name: &'_ str) -> Result<Sink<'_>, String> {
        let storage = self
            .storage
            .as_ref()
            .ok_or_else(|| format!("flow '{flow}' writes to a layout: declare `storage`"))?;
        let (layout_name, layout) = storage
            .layouts
            .get_key_value(layout_name)
            .ok_or_else(|| format!("flow '{flow}': no layout '{layout_name}'"))?;
        let registered = self.catalog.as_ref().map(|catalog| {
            let tables = catalog
                .tables
                .iter()
                .filter(|(_, t)| &t.layout == layout_name && !t.projection)
                .map(|(name, _)| name.as_str())
                .collect();
            (catalog.database.as_str(), tables)
        });
        let projected = self.catalog.as_ref().is_some_and(|catalog| {
            catalog
                .tables
                .values()
                .any(|t| &t.layout == layout_name && t.projection)
        });
        Ok(Sink {
            bucket: &storage.bucket,
            layout_name,
            layout,
            registered,
            projected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_seattle_flow_gets_the_parts_it_names() {
        let seattle = crate::load::seattle_pipeline();
        let Ok(Resolved::Backfill(backfill)) = seattle.resolve("backfill_export") else {
            panic!("backfill_export is a backfill");
        };
        assert!(matches!(
            &seattle.sources["history_export"],
            Source::Csv(csv) if std::ptr::eq(csv, backfill.source)
        ));
        assert!(std::ptr::eq(
            backfill.dataset,
            &seattle.datasets["offenses_export"]
        ));
        assert_eq!(
            (backfill.sink.bucket, backfill.sink.layout_name),
            ("seattle-911", "historical")
        );
        // The table over `historical` uses projection: nothing to register.
        assert_eq!(backfill.sink.registered, Some(("seattle_911", vec![])));
        assert!(backfill.sink.projected);

        let Ok(Resolved::Ingest(ingest)) = seattle.resolve("ingest") else {
            panic!("ingest is an ingest");
        };
        assert_eq!(ingest.bucket, "seattle-911");
        assert_eq!(
            ingest.rejects_prefix, "incremental_data/",
            "beside what deliver writes from its topic"
        );

        let Ok(Resolved::Deliver(deliver)) = seattle.resolve("deliver") else {
            panic!("deliver is a deliver");
        };
        assert!(
            std::ptr::eq(deliver.dataset, &seattle.datasets["offenses"]),
            "the dataset of the ingest that writes its topic"
        );
        assert_eq!(
            deliver.sink.registered,
            Some(("seattle_911", vec!["offenses_incremental"]))
        );
        assert!(!deliver.sink.projected);

        assert_eq!(
            seattle.resolve("nope").err().as_deref(),
            Some("pipeline 'seattle-911-crime' has no flow 'nope'")
        );
    }
}
