//! Queries and panels checked offline: every query planned against the catalog tables'
//! schemas (`query::offline`), a finding pointing at the word of the SQL it is about; every
//! dashboard panel's columns looked up in its query's planned answer.

use std::collections::HashMap;

use datafusion::arrow::datatypes::SchemaRef;

use super::{Ctx, ptr};
use crate::diag::Severity;
use crate::query::offline::Planner;
use crate::suggest::did_you_mean;

/// Plans each query and checks each panel against its query's columns. Runs only on a
/// pipeline with no error so far: the plan needs its tables whole.
pub(super) fn check_sql(ctx: &mut Ctx<'_>) {
    let p = ctx.pipeline;
    if ctx.errors() > 0 || p.queries.is_empty() {
        return;
    }
    let planner = match Planner::new(p) {
        None => return,
        Some(Ok(planner)) => planner,
        Some(Err(e)) => {
            ctx.error(
                "/catalog",
                true,
                format!("the catalog tables cannot be planned over: {e}"),
            );
            return;
        }
    };
    let mut answers: HashMap<&str, SchemaRef> = HashMap::new();
    for (name, query) in &p.queries {
        let at = ptr(&["queries", name, "sql"]);
        match planner.plan(&query.sql) {
            Ok(schema) => {
                answers.insert(name, schema);
            }
            Err(finding) => {
                let severity = if finding.athena_only {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                let diagnostic =
                    ctx.record_at_word(severity, &at, finding.word.as_deref(), finding.message);
                diagnostic.hint = finding.hint;
            }
        }
    }
    check_panels(ctx, &answers);
}

/// Each panel's `x`, `y`, `lat` and `lon` name columns of its query's answer, of the kind
/// its chart draws.
fn check_panels(ctx: &mut Ctx<'_>, answers: &HashMap<&str, SchemaRef>) {
    let Some(board) = &ctx.pipeline.dashboard else {
        return;
    };
    for (i, panel) in board.panels.iter().enumerate() {
        let Some(schema) = answers.get(panel.query.as_str()) else {
            continue;
        };
        let at = |key: &str| ptr(&["dashboard", "panels", &i.to_string(), key]);
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut missing = false;
        let named = [
            ("x", &panel.x),
            ("y", &panel.y),
            ("lat", &panel.lat),
            ("lon", &panel.lon),
        ];
        for (key, name) in named {
            let Some(name) = name else { continue };
            if !columns.contains(&name.as_str()) {
                missing = true;
                let message = format!(
                    "query '{}' returns no column '{name}'; it returns {}",
                    panel.query,
                    columns.join(", ")
                );
                ctx.error(&at(key), false, message).hint =
                    did_you_mean(name, columns.iter().copied());
            }
        }
        if !missing && let Err(e) = crate::dashboard::fits(panel, schema.clone()) {
            // At the key naming the column the chart refused, else at the chart.
            let key = named
                .iter()
                .find(|(_, name)| name.as_ref().is_some_and(|n| e.contains(&format!("'{n}'"))))
                .map_or("chart", |(key, _)| key);
            ctx.error(&at(key), false, e);
        }
    }
}
