//! Catalog partitions of written objects: registered with every table over the layout that
//! does not use partition projection, and checked against the projection of those that do
//! (projected tables need no registration, but see only the values their rules enumerate).

use crate::backend::{Catalog, Partition};
use crate::flow::error::FlowError;
use crate::spec::Dataset;
use crate::spec::resolve::Sink;

/// Registers the partitions the written data objects lie in (keys outside `name=value`
/// folders, such as the quarantine, are skipped) with every catalog table over `sink`'s
/// layout that does not use partition projection.
pub async fn partitions(
    sink: &Sink<'_>,
    objects: &[String],
    catalog: &dyn Catalog,
) -> Result<(), FlowError> {
    let Some((database, tables)) = &sink.registered else {
        return Ok(());
    };
    let layout = sink.layout;
    if layout.partition_by.is_empty() || tables.is_empty() {
        return Ok(());
    }
    let mut partitions: Vec<Partition> = objects
        .iter()
        .filter_map(|key| {
            let (folder, segments) =
                crate::resource::projection::partition_folder(&layout.prefix, key)?;
            Some(Partition {
                values: segments.iter().map(|(_, v)| (*v).to_owned()).collect(),
                location: format!("s3://{}/{}{folder}", sink.bucket, layout.prefix),
            })
        })
        .collect();
    partitions.sort();
    partitions.dedup();
    for table in tables {
        catalog.add_partitions(database, table, &partitions).await?;
        tracing::info!(table = %table, partitions = partitions.len(), "partitions registered");
    }
    Ok(())
}

/// The partition folders among the `objects` written to `sink` that its projected tables'
/// rules do not enumerate today (Athena does not read their rows), each logged as a
/// warning; empty when no table over the layout uses projection.
pub fn unprojected(sink: &Sink<'_>, dataset: &Dataset, objects: &[String]) -> Vec<String> {
    if !sink.projected {
        return Vec::new();
    }
    let today = chrono::Utc::now().date_naive();
    let folders = crate::resource::projection::unprojected(sink.layout, dataset, objects, today);
    for folder in &folders {
        tracing::warn!(layout = sink.layout_name, %folder, "written outside the table's partition projection: Athena does not read it");
    }
    folders
}
