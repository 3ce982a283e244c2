//! Queries planned with no data and no network: each template rendered for the embedded
//! engine and planned against the catalog tables' schemas (their columns from the datasets,
//! their partition keys from the layouts), so `runner validate` finds an unknown column,
//! table or function, or a type error, before any engine runs the query.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

use crate::backend::embedded::Embedded;
use crate::resource::Kind;
use crate::resource::desired::desired;
use crate::spec::Pipeline;
use crate::suggest::did_you_mean;

/// Trino functions Athena has and the embedded engine does not (docs/query.md): a query
/// using one runs on Athena only, which validate says as a warning.
const ATHENA_ONLY: &[&str] = &[
    "at_timezone",
    "with_timezone",
    "from_unixtime_nanos",
    "json_array_get",
    "json_array_length",
    "json_array_contains",
    "json_size",
    "json_format",
    "json_parse",
    "json_query",
    "json_value",
    "url_extract_host",
    "url_extract_path",
    "url_extract_parameter",
    "histogram",
    "map_agg",
    "multimap_agg",
    "transform",
    "filter",
    "reduce",
    "zip_with",
    "normal_cdf",
    "levenshtein_distance",
    "hamming_distance",
    "to_geometry",
    "st_point",
    "st_distance",
    "great_circle_distance",
];

/// Why a query does not plan, and where in its text.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    /// What is wrong, in a sentence.
    pub message: String,
    /// The word of the query it is about (a column, table or function), to point at.
    pub word: Option<String>,
    /// A did-you-mean, when one is close.
    pub hint: Option<String>,
    /// Whether the query is fine on Athena and only the embedded engine cannot run it.
    pub athena_only: bool,
}

/// The catalog tables of a pipeline, empty, in an embedded engine.
pub struct Planner<'p> {
    pipeline: &'p Pipeline,
    engine: Embedded,
}

impl<'p> Planner<'p> {
    /// A planner over `pipeline`'s catalog tables, or `None` when it has no catalog.
    pub fn new(pipeline: &'p Pipeline) -> Option<Result<Self, String>> {
        pipeline.catalog.as_ref()?;
        let tables: Vec<(String, crate::resource::Attrs)> = desired(pipeline, "offline")
            .into_iter()
            .filter(|r| r.address.kind == Kind::GlueTable)
            .map(|r| {
                let table = r.address.name.split_once('.').map_or("", |(_, t)| t);
                (table.to_owned(), r.attrs)
            })
            .collect();
        Some(
            Embedded::empty(&tables)
                .map(|engine| Planner { pipeline, engine })
                .map_err(|e| e.to_string()),
        )
    }

    /// The columns query template `sql`'s answer would have, or why it does not plan.
    pub fn plan(&self, sql: &str) -> Result<SchemaRef, Finding> {
        let rendered = super::render(sql, &self.engine, self.pipeline).map_err(|e| Finding {
            message: e,
            word: None,
            hint: None,
            athena_only: false,
        })?;
        futures_executor::block_on(self.engine.plan(&rendered)).map_err(|e| self.finding(&e))
    }

    /// DataFusion's error `e` as a finding about the word it names.
    fn finding(&self, e: &DataFusionError) -> Finding {
        // A function given arguments of types it does not take, wherever DataFusion
        // wrapped the error: Trino's words for ours, the function's name otherwise.
        let text = e.to_string();
        if let Some(at) = text.find("Unexpected parameters (") {
            let message = text[at..].split(". ").next().unwrap_or_default().to_owned();
            let word = message.rsplit(' ').next().map(str::to_owned);
            return Finding {
                message,
                word,
                hint: None,
                athena_only: false,
            };
        }
        if let Some(call) = quoted_after(
            &text,
            "No function matches the given name and argument types '",
        ) {
            let name = call.split('(').next().unwrap_or_default().to_owned();
            return Finding {
                message: format!("function {name} does not take arguments of these types ({call})"),
                word: Some(name),
                hint: Some("CAST the arguments to the types the function takes".into()),
                athena_only: false,
            };
        }
        let plain = |message: String| Finding {
            message,
            word: None,
            hint: None,
            athena_only: false,
        };
        match e.find_root() {
            DataFusionError::SchemaError(schema_error, _) => match schema_error.as_ref() {
                SchemaError::FieldNotFound {
                    field,
                    valid_fields,
                } => {
                    let known: Vec<&str> = valid_fields.iter().map(|c| c.name.as_str()).collect();
                    Finding {
                        message: format!(
                            "no column '{}' in the tables the query reads",
                            field.flat_name()
                        ),
                        hint: did_you_mean(&field.name, known.iter().copied()),
                        word: Some(field.name.clone()),
                        athena_only: false,
                    }
                }
                other => plain(format!("the query does not plan: {other}")),
            },
            DataFusionError::Plan(message) => {
                if let Some(name) = quoted_after(message, "Invalid function '") {
                    if ATHENA_ONLY.contains(&name.to_lowercase().as_str()) {
                        return Finding {
                            message: format!(
                                "{name}() is an Athena function the embedded engine does not have: this query runs on Athena only"
                            ),
                            word: Some(name),
                            hint: None,
                            athena_only: true,
                        };
                    }
                    let known = self.engine.function_names();
                    return Finding {
                        message: format!("unknown function '{name}'"),
                        hint: did_you_mean(&name, known.iter().map(String::as_str)),
                        word: Some(name),
                        athena_only: false,
                    };
                }
                if let Some(table) = quoted_after(message, "table '") {
                    let table = table.rsplit('.').next().unwrap_or_default().to_owned();
                    let known = self
                        .pipeline
                        .catalog
                        .iter()
                        .flat_map(|c| c.tables.keys().map(String::as_str));
                    return Finding {
                        message: format!("no catalog table '{table}'"),
                        hint: did_you_mean(&table, known).or_else(|| {
                            Some("name catalog tables with {{ table('NAME') }}".into())
                        }),
                        word: Some(table),
                        athena_only: false,
                    };
                }
                plain(format!("the query does not plan: {}", first_line(message)))
            }
            DataFusionError::SQL(parse, _) => plain(format!("SQL syntax: {parse}")),
            DataFusionError::NotImplemented(what) => {
                // A lateral `CROSS JOIN UNNEST(column)` is the common case.
                let lateral = what.contains("OuterReferenceColumn");
                Finding {
                    message: if lateral {
                        "the embedded engine cannot unnest a column of the table it joins (CROSS JOIN UNNEST): this query runs on Athena only".into()
                    } else {
                        format!(
                            "the embedded engine cannot run this query ({}): it runs on Athena only",
                            first_line(what)
                        )
                    },
                    word: (lateral || what.to_lowercase().contains("unnest"))
                        .then(|| "UNNEST".to_owned()),
                    hint: None,
                    athena_only: true,
                }
            }
            other => plain(format!(
                "the query does not plan: {}",
                first_line(&other.to_string())
            )),
        }
    }
}

/// The text between `prefix` and the next `'` in `message`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('\'')?].to_owned())
}

/// The first line of `text`.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seattle() -> Pipeline {
        crate::load::seattle_pipeline()
    }

    #[test]
    fn every_seattle_query_plans_with_the_columns_its_panels_use() {
        let pipeline = seattle();
        let planner = Planner::new(&pipeline).expect("a catalog").expect("tables");
        for (name, query) in &pipeline.queries {
            let schema = planner
                .plan(&query.sql)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(!schema.fields().is_empty(), "{name}");
        }
        let by_month = planner
            .plan(&pipeline.queries["by_month"].sql)
            .expect("plans");
        let names: Vec<&str> = by_month
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["month", "n"]);
    }

    #[test]
    fn every_query_of_the_athena_corpus_plans_without_a_finding() {
        let pipeline = seattle();
        let planner = Planner::new(&pipeline).expect("a catalog").expect("tables");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/queries");
        let mut planned = 0;
        for entry in std::fs::read_dir(dir).expect("tests/queries") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "sql") {
                let sql = std::fs::read_to_string(&path).expect("readable");
                if let Err(finding) = planner.plan(&sql) {
                    panic!("{}: {finding:?}", path.display());
                }
                planned += 1;
            }
        }
        assert!(planned >= 40, "{planned}");
    }

    #[test]
    fn a_misspelled_column_table_or_function_is_named_with_a_suggestion() {
        let pipeline = seattle();
        let planner = Planner::new(&pipeline).expect("a catalog").expect("tables");
        let column = planner
            .plan("SELECT offense_parent_grup FROM {{ table('offenses') }}")
            .expect_err("no such column");
        assert_eq!(column.word.as_deref(), Some("offense_parent_grup"));
        assert_eq!(
            column.hint.as_deref(),
            Some("did you mean 'offense_parent_group'?")
        );

        let table = planner
            .plan("SELECT 1 FROM offences")
            .expect_err("no such table");
        assert_eq!(table.message, "no catalog table 'offences'");
        assert_eq!(table.hint.as_deref(), Some("did you mean 'offenses'?"));

        let function = planner
            .plan("SELECT yeer(report_datetime) FROM {{ table('offenses') }}")
            .expect_err("no such function");
        assert_eq!(function.message, "unknown function 'yeer'");
        assert!(
            function.hint.as_deref().is_some_and(|h| h.contains("year")),
            "{function:?}"
        );

        let athena = planner
            .plan("SELECT at_timezone(report_datetime, 'UTC') FROM {{ table('offenses') }}")
            .expect_err("Athena only");
        assert!(athena.athena_only, "{athena:?}");

        // A lateral unnest runs (rewritten); with ORDINALITY it does not, and says so.
        let unnest = "{{ table('offenses') }} CROSS JOIN UNNEST(split(block_address, ' '))";
        planner
            .plan(&format!(
                "SELECT word, count(*) AS n FROM {unnest} AS t(word) GROUP BY 1"
            ))
            .expect("a lateral unnest plans");
        let ordinality = planner
            .plan(&format!(
                "SELECT word, i FROM {unnest} WITH ORDINALITY AS t(word, i)"
            ))
            .expect_err("not on the embedded engine");
        assert!(ordinality.athena_only, "{ordinality:?}");
        assert_eq!(ordinality.word.as_deref(), Some("UNNEST"), "{ordinality:?}");

        let types = planner
            .plan("SELECT date_trunc('month', offense) FROM {{ table('offenses') }}")
            .expect_err("a type error");
        assert_eq!(
            (types.message.as_str(), types.word.as_deref()),
            (
                "Unexpected parameters (varchar, varchar) for function date_trunc",
                Some("date_trunc")
            )
        );

        let builtin = planner
            .plan("SELECT strpos(offense_id, 1) FROM {{ table('offenses') }}")
            .expect_err("a type error");
        assert_eq!(builtin.word.as_deref(), Some("strpos"), "{builtin:?}");

        let partition = planner
            .plan("SELECT count(*) FROM {{ table('offenses') }} WHERE year = 2023 AND month = 5")
            .expect("partition keys are columns");
        assert_eq!(partition.fields().len(), 1);
    }
}
