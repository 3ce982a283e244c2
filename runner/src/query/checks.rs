//! Data checks as SQL: each check of a catalog table becomes a query (in Athena's dialect,
//! a template like `queries:`) that returns the rows breaking it; the check passes when it
//! returns none, and reports how many and up to five of them otherwise.

use serde::Serialize;

use crate::backend::QueryEngine;
use crate::spec::Pipeline;
use crate::spec::check::{CheckSeverity, DataCheck};

/// Example rows shown for a failing check.
const EXAMPLES: usize = 5;

/// How one check went.
#[derive(Debug, Serialize)]
pub struct CheckResult {
    /// The catalog table.
    pub table: String,
    /// The check's name.
    pub check: String,
    /// Its severity.
    pub severity: CheckSeverity,
    /// Whether no row breaks it (and it ran).
    pub passed: bool,
    /// How many rows break it.
    pub failing: u64,
    /// Up to five of them, each as `column=value` pairs.
    pub examples: Vec<String>,
    /// Why it could not run, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The query returning the rows that break `check` on `table`.
pub fn sql(table: &str, check: &DataCheck) -> String {
    let from = format!("{{{{ table('{table}') }}}}");
    if let Some(columns) = &check.not_null {
        let nulls: Vec<String> = columns
            .iter()
            .map(|c| format!("{} IS NULL", quoted(c)))
            .collect();
        return format!("SELECT * FROM {from} WHERE {}", nulls.join(" OR "));
    }
    if let Some(columns) = &check.unique {
        let list: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
        let list = list.join(", ");
        return format!(
            "SELECT {list}, count(*) AS copies FROM {from} GROUP BY {list} HAVING count(*) > 1"
        );
    }
    if let Some(accepted) = &check.accepted_values {
        let column = quoted(&accepted.column);
        let values: Vec<String> = accepted
            .values
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect();
        return format!(
            "SELECT {column}, count(*) AS rows_with_it FROM {from} WHERE {column} IS NOT NULL AND {column} NOT IN ({}) GROUP BY {column}",
            values.join(", ")
        );
    }
    if let Some(range) = &check.range {
        let column = quoted(&range.column);
        let mut outside = Vec::new();
        if let Some(min) = range.min {
            outside.push(format!("{column} < {min}"));
        }
        if let Some(max) = range.max {
            outside.push(format!("{column} > {max}"));
        }
        let outside = if outside.is_empty() {
            "false".into()
        } else {
            outside.join(" OR ")
        };
        return format!("SELECT * FROM {from} WHERE {outside}");
    }
    if let Some(count) = &check.row_count {
        let mut outside = Vec::new();
        if let Some(min) = count.min {
            outside.push(format!("count(*) < {min}"));
        }
        if let Some(max) = count.max {
            outside.push(format!("count(*) > {max}"));
        }
        let outside = if outside.is_empty() {
            "false".into()
        } else {
            outside.join(" OR ")
        };
        return format!("SELECT count(*) AS row_count FROM {from} HAVING {outside}");
    }
    if let Some(fresh) = &check.freshness {
        let column = quoted(&fresh.column);
        return format!(
            "SELECT max({column}) AS newest FROM {from} HAVING max({column}) IS NULL OR max({column}) < current_timestamp - INTERVAL '{}' SECOND",
            fresh.within.0.as_secs()
        );
    }
    check.sql.clone().unwrap_or_default()
}

/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs `check` of `table` on `engine`.
pub async fn run(
    engine: &dyn QueryEngine,
    pipeline: &Pipeline,
    table: &str,
    check: &DataCheck,
) -> CheckResult {
    let mut result = CheckResult {
        table: table.to_owned(),
        check: check.label(),
        severity: check.severity,
        passed: false,
        failing: 0,
        examples: Vec::new(),
        error: None,
    };
    let breaking = match super::render(&sql(table, check), engine, pipeline) {
        Ok(sql) => sql,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let counted = engine
        .query(&format!(
            "SELECT count(*) AS failing FROM ({breaking}) AS breaking"
        ))
        .await
        .map_err(|e| e.to_string())
        .and_then(|answer| first_count(&answer));
    match counted {
        Ok(0) => result.passed = true,
        Ok(n) => {
            result.failing = n;
            match engine
                .query(&format!(
                    "SELECT * FROM ({breaking}) AS breaking LIMIT {EXAMPLES}"
                ))
                .await
            {
                Ok(answer) => result.examples = rows(&answer),
                Err(e) => result.error = Some(e.to_string()),
            }
        }
        Err(e) => result.error = Some(e),
    }
    result
}

/// The one integer of a `SELECT count(*)` answer.
fn first_count(answer: &crate::backend::Answer) -> Result<u64, String> {
    let batch = answer
        .batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or("no count")?;
    let cast = arrow_cast::cast(batch.column(0), &arrow_schema::DataType::UInt64)
        .map_err(|e| e.to_string())?;
    let counts = cast
        .as_any()
        .downcast_ref::<arrow_array::UInt64Array>()
        .ok_or("not a count")?;
    Ok(counts.value(0))
}

/// Each row of `answer` as `column=value, ...`.
fn rows(answer: &crate::backend::Answer) -> Vec<String> {
    let options = arrow_cast::display::FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in &answer.batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .filter_map(|c| arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &options).ok())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .schema()
                .fields()
                .iter()
                .zip(&formatters)
                .map(|(field, f)| format!("{}={}", field.name(), f.value(row)))
                .collect();
            out.push(cells.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_check_is_the_query_of_the_rows_that_break_it() {
        let check = |json: &str| -> DataCheck { serde_json::from_str(json).expect("a check") };
        assert_eq!(
            sql(
                "offenses",
                &check(r#"{"not_null": ["offense_id", "report_datetime"]}"#)
            ),
            "SELECT * FROM {{ table('offenses') }} WHERE \"offense_id\" IS NULL OR \"report_datetime\" IS NULL"
        );
        assert_eq!(
            sql(
                "offenses",
                &check(r#"{"accepted_values": {"column": "c", "values": ["A", "O'B"]}}"#)
            ),
            "SELECT \"c\", count(*) AS rows_with_it FROM {{ table('offenses') }} WHERE \"c\" IS NOT NULL AND \"c\" NOT IN ('A', 'O''B') GROUP BY \"c\""
        );
        assert_eq!(
            sql("t", &check(r#"{"row_count": {"min": 10}}"#)),
            "SELECT count(*) AS row_count FROM {{ table('t') }} HAVING count(*) < 10"
        );
    }
}
