//! `runner query NAME` (or `--sql`): runs a named query, or any SQL, on Athena or the
//! embedded engine and prints the answer as a table, CSV or JSON. Without a name it lists
//! the queries.

use std::io::Write;

use super::pipelines::{load_valid, the_one};
use super::{CommandError, Outcome};
use crate::backend::QueryEngine;
use crate::check::Validated;
use crate::cli::QueryArgs;
use crate::query;
use crate::query::Cut;
use crate::stop::Stop;

/// Runs `runner query`.
pub async fn run(
    args: &QueryArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, CommandError> {
    let pipelines = load_valid(&args.pipeline_paths(), Some(&args.target), err)?;
    let (validated, template) = match (args.query_name(), &args.sql) {
        (Some(name), None) => {
            let what = format!("a query named '{name}'");
            let has = |p: &Validated| p.pipeline.queries.contains_key(name);
            {
                let one = the_one(&pipelines, has, &what, err)?;
                (one, one.pipeline.queries[name].sql.clone())
            }
        }
        (None, Some(sql)) => {
            let has = |p: &Validated| p.pipeline.catalog.is_some();
            {
                let one = the_one(&pipelines, has, "a catalog", err)?;
                (one, sql.clone())
            }
        }
        _ => {
            list(&pipelines, out)?;
            return Ok(Outcome::Success);
        }
    };
    let pipeline = &validated.pipeline;
    let stop = Stop::on_signals();
    let engine = connect_engine(validated, &args.target, args.engine, &stop, err).await?;
    let sql = match query::render(&template, engine.as_ref(), pipeline) {
        Ok(sql) => sql,
        Err(e) => {
            writeln!(err, "error: {}: query template: {e}", validated.file)?;
            return Ok(Outcome::Findings);
        }
    };
    tracing::info!(engine = engine.name(), target = %args.target, %sql, "query");
    let answered = match engine.query_stream(&sql).await {
        Ok(answer) => query::write(answer, args.format, out, &stop).await,
        Err(e) => Err(Cut::Answer(e.to_string())),
    };
    match answered {
        Ok(()) => Ok(Outcome::Success),
        Err(Cut::Output(e)) => Err(e.into()),
        Err(Cut::Answer(e)) => {
            let name = args.query_name().unwrap_or("--sql");
            writeln!(err, "error: {}: query '{name}': {e}", validated.file)?;
            Ok(Outcome::Findings)
        }
    }
}

/// The query engine `choice` names on `target` for `validated`'s pipeline, its queries
/// cancelled when `stop` is set; a failure to connect is written to `err` and returned as
/// the outcome to exit with.
pub(super) async fn connect_engine(
    validated: &Validated,
    target: &str,
    choice: query::EngineChoice,
    stop: &Stop,
    err: &mut dyn Write,
) -> Result<Box<dyn QueryEngine>, CommandError> {
    let pipeline = &validated.pipeline;
    let backends = super::pipelines::connect(validated, target, err).await?;
    match query::engine(pipeline, &backends, choice, stop.clone()).await {
        Ok(engine) => Ok(engine),
        Err(e) => {
            writeln!(err, "error: {}: {e}", validated.file)?;
            Err(CommandError::Findings)
        }
    }
}

/// Lists every pipeline's queries with their descriptions.
fn list(pipelines: &[Validated], out: &mut dyn Write) -> std::io::Result<()> {
    for validated in pipelines {
        if validated.pipeline.queries.is_empty() {
            continue;
        }
        writeln!(out, "{} ({}):", validated.pipeline.pipeline, validated.file)?;
        for (name, query) in &validated.pipeline.queries {
            let about = query.description.as_deref().unwrap_or("");
            writeln!(out, "  {name:<24} {about}")?;
        }
    }
    writeln!(
        out,
        "\nRun one with `runner query NAME`, or any SQL with `--sql`."
    )
}
