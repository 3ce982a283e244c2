//! Catalog partitions of written objects: registered with every table over the layout that
//! does not use partition projection (projected tables need no registration).

use crate::backend::{Catalog, Partition};
use crate::flow::error::FlowError;
use crate::spec::Pipeline;

/// Registers the partitions the written data objects lie in (keys outside `name=value`
/// folders, such as the quarantine, are skipped) with every catalog table over
/// `layout` that does not use partition projection.
pub async fn partitions(
    pipeline: &Pipeline,
    layout_name: &str,
    bucket: &str,
    objects: &[String],
    catalog: &dyn Catalog,
) -> Result<(), FlowError> {
    let Some(cat) = &pipeline.catalog else {
        return Ok(());
    };
    let layout = &pipeline
        .storage
        .as_ref()
        .ok_or("the pipeline has no storage")?
        .layouts[layout_name];
    if layout.partition_by.is_empty() {
        return Ok(());
    }
    let mut partitions: Vec<Partition> = objects
        .iter()
        .filter_map(|key| {
            let dir = &key[..key.rfind('/')? + 1];
            let relative = dir.strip_prefix(&layout.prefix)?;
            let values = relative
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| s.split_once('=').map(|(_, v)| v.to_owned()))
                .collect::<Option<Vec<_>>>()?;
            Some(Partition {
                values,
                location: format!("s3://{bucket}/{dir}"),
            })
        })
        .collect();
    partitions.sort();
    partitions.dedup();
    for (table_name, table) in &cat.tables {
        if table.layout == layout_name && !table.projection {
            catalog
                .add_partitions(&cat.database, table_name, &partitions)
                .await?;
            tracing::info!(table = %table_name, partitions = partitions.len(), "partitions registered");
        }
    }
    Ok(())
}
