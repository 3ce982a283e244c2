//! The local target's catalog: `.runner/glue/<database>/<table>.json`.

use async_trait::async_trait;

use super::Local;
use super::files::*;
use crate::backend::{Catalog, Partition, Result};
use crate::resource::Attrs;

#[async_trait]
impl Catalog for Local {
    async fn database(&self, name: &str) -> Result<Option<Attrs>> {
        read_json(&self.database_file(name)?)
    }

    async fn create_database(&self, name: &str, attrs: &Attrs) -> Result<()> {
        if self.database_file(name)?.exists() {
            return Err(failure(format!("database '{name}' already exists")));
        }
        write_json(&self.database_file(name)?, attrs)
    }

    async fn update_database(&self, name: &str, attrs: &Attrs) -> Result<()> {
        if !self.database_file(name)?.exists() {
            return Err(failure(format!("database '{name}' does not exist")));
        }
        write_json(&self.database_file(name)?, attrs)
    }

    async fn delete_database(&self, name: &str) -> Result<()> {
        let dir = self.database_dir(name)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    async fn table(&self, database: &str, name: &str) -> Result<Option<Attrs>> {
        read_json(&self.table_file(database, name)?)
    }

    async fn tables(&self, database: &str) -> Result<Vec<(String, Attrs)>> {
        let dir = self.database_dir(database)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(&dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(table) = name.strip_suffix(".json") else {
                continue;
            };
            if table == "_database" || is_temp(name) {
                continue;
            }
            if let Some(attrs) = read_json(&path)? {
                out.push((table.to_owned(), attrs));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn create_table(&self, database: &str, name: &str, attrs: &Attrs) -> Result<()> {
        if !self.database_file(database)?.exists() {
            return Err(failure(format!("database '{database}' does not exist")));
        }
        if self.table_file(database, name)?.exists() {
            return Err(failure(format!("table '{database}.{name}' already exists")));
        }
        write_json(&self.table_file(database, name)?, attrs)
    }

    async fn update_table(&self, database: &str, name: &str, attrs: &Attrs) -> Result<()> {
        if !self.table_file(database, name)?.exists() {
            return Err(failure(format!("table '{database}.{name}' does not exist")));
        }
        write_json(&self.table_file(database, name)?, attrs)
    }

    async fn delete_table(&self, database: &str, name: &str) -> Result<()> {
        remove(&self.table_file(database, name)?)?;
        remove(&self.partitions_file(database, name)?)
    }

    async fn add_partitions(
        &self,
        database: &str,
        table: &str,
        partitions: &[Partition],
    ) -> Result<()> {
        if !self.table_file(database, table)?.exists() {
            return Err(failure(format!(
                "table '{database}.{table}' does not exist"
            )));
        }
        let mut all = Catalog::partitions(self, database, table).await?;
        for partition in partitions {
            if !all.iter().any(|p| p.values == partition.values) {
                all.push(partition.clone());
            }
        }
        all.sort();
        let bytes = serde_json::to_vec_pretty(&all).map_err(|e| failure(e.to_string()))?;
        write_atomic(&self.partitions_file(database, table)?, &bytes)
    }

    async fn partitions(&self, database: &str, table: &str) -> Result<Vec<Partition>> {
        let path = self.partitions_file(database, table)?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| failure(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(&path)(e)),
        }
    }
}
