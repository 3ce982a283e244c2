//! Reads the actual state of the desired resources through the backends, plus the
//! leftovers: tables in the pipeline's database that carry its marker but are no longer
//! declared.

use std::collections::BTreeSet;

use super::diff::Actual;
use crate::backend::{Backends, Result};
use crate::resource::{Address, Kind, Resource, is_managed_by};

/// What the target holds for `desired`.
pub async fn read(backends: &Backends, pipeline: &str, desired: &[Resource]) -> Result<Actual> {
    let mut actual = Actual::default();
    let mut databases = BTreeSet::new();
    // Kafka topics first: the admin client is then let go, and its teardown (about 100 ms)
    // goes on while the other resources are read.
    let (topics, others): (Vec<&Resource>, Vec<&Resource>) = desired
        .iter()
        .partition(|r| r.address.kind == Kind::KafkaTopic);
    for resource in &topics {
        let attrs = backends.log()?.topic(&resource.address.name).await?;
        actual.resources.insert(resource.address.clone(), attrs);
    }
    if !topics.is_empty() {
        backends.log()?.release_admin();
    }
    for resource in others {
        let address = &resource.address;
        let attrs = match address.kind {
            Kind::S3Bucket => backends.objects.bucket(&address.name).await?,
            Kind::GlueDatabase => {
                databases.insert(address.name.clone());
                backends.catalog.database(&address.name).await?
            }
            Kind::GlueTable => match address.table_parts() {
                Some((database, table)) => backends.catalog.table(database, table).await?,
                None => None,
            },
            Kind::KafkaTopic => unreachable!("topics are read above"),
        };
        actual.resources.insert(address.clone(), attrs);
    }
    for database in databases {
        if actual
            .resources
            .get(&Address::new(Kind::GlueDatabase, &database))
            .is_some_and(Option::is_none)
        {
            continue;
        }
        for (table, attrs) in backends.catalog.tables(&database).await? {
            let address = Address::new(Kind::GlueTable, format!("{database}.{table}"));
            if !actual.resources.contains_key(&address) && is_managed_by(&attrs, pipeline) {
                actual.leftovers.push(Resource { address, attrs });
            }
        }
    }
    Ok(actual)
}
