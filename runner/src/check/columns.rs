//! Column names checked where they can be: a backfill's CSV source that is a local file (in
//! the repository, never the network) has its header read, and each field of the dataset
//! must name one of its columns (its `from:`, or its own name), found now rather than when
//! the flow runs.

use std::path::Path;

use super::{Ctx, ptr};
use crate::flow::backfill::csv_source::CsvReader;
use crate::spec::dataset::ColumnName;
use crate::spec::flow::Flow;
use crate::spec::{Source, SourceKind};
use crate::suggest::did_you_mean;

/// Reads the header of each local CSV source a backfill cleans, and reports the fields
/// whose column it lacks.
pub(super) fn check_columns(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    for flow in p.flows.values() {
        let Flow::Backfill(backfill) = flow else {
            continue;
        };
        let (Some(Source::Csv(source)), Some(dataset)) = (
            p.sources.get(&backfill.from),
            p.datasets.get(&backfill.clean),
        ) else {
            continue;
        };
        let Some(columns) = local_header(&source.path, source) else {
            continue;
        };
        for (name, field) in &dataset.fields {
            let column = field
                .from
                .as_ref()
                .and_then(|f| f.for_kind(SourceKind::Csv))
                .unwrap_or(name);
            if columns.iter().any(|c| c == column) {
                continue;
            }
            let at = ptr(&["datasets", &backfill.clean, "fields", name]);
            let (pointer, on_key) = match &field.from {
                Some(ColumnName::Same(_)) => (format!("{at}/from"), false),
                Some(ColumnName::PerKind(per)) if per.csv.is_some() => {
                    (format!("{at}/from/csv"), false)
                }
                _ => (at, true),
            };
            let message = format!("the header of {} has no column '{column}'", source.path);
            ctx.error(&pointer, on_key, message).hint =
                did_you_mean(column, columns.iter().map(String::as_str));
        }
    }
}

/// The column names of `path` when it is one local file that can be opened (no glob, no
/// URL); `None` otherwise, or when the header cannot be read (the run reports that).
fn local_header(path: &str, source: &crate::spec::source::CsvSource) -> Option<Vec<String>> {
    if path.contains("://") || path.contains(['*', '?', '[']) || !Path::new(path).is_file() {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let reader = CsvReader::open(path, Box::new(file), source, 1).ok()?;
    Some(reader.columns().to_vec())
}
