//! Reads the actual state of the desired resources through the backends, plus the
//! leftovers: tables in the pipeline's database that carry its marker but are no longer
//! declared.

use std::collections::BTreeSet;

use super::diff::Actual;
use crate::backend::{Backends, Result};
use crate::resource::{Address, Kind, Resource, is_managed_by};

/// What the target holds for `desired`. With `release_admin` (a plan that will not be
/// applied), the Kafka admin client is let go once the topics are read.
pub async fn read(
    backends: &Backends,
    pipeline: &str,
    desired: &[Resource],
    release_admin: bool,
) -> Result<Actual> {
    let mut actual = Actual::default();
    let mut databases = BTreeSet::new();
    // Kafka topics first: a released admin client's teardown (about 100 ms) then goes on
    // while the other resources are read.
    let mut topics = desired
        .iter()
        .filter(|r| r.address.kind == Kind::KafkaTopic)
        .peekable();
    let any_topic = topics.peek().is_some();
    for resource in topics {
        let attrs = backends.log()?.topic(&resource.address.name).await?;
        actual.resources.insert(resource.address.clone(), attrs);
    }
    if any_topic && release_admin {
        backends.log()?.release_admin();
    }
    for resource in desired {
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
            Kind::KafkaTopic => continue,
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
