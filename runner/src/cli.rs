//! The command line: subcommands, flags and their help text (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// runner: data pipelines as YAML — validated offline, planned and applied like Terraform,
/// run like Vector.
///
/// A pipeline file (pipelines/*.yaml) describes sources, cleaning rules, Kafka topics, the
/// S3 layout, Glue tables, queries and a dashboard. Start with `runner validate`.
#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check pipeline files offline: YAML syntax, the schema, references between sections,
    /// names the services would reject, templates, formats and types.
    ///
    /// Every finding is reported at once, sorted by file and position, each with
    /// `file:line:column`, the source line, the path inside the document and a hint.
    /// No network and no credentials are needed; environment variables of targets are
    /// checked only for the target named by --target.
    ///
    /// Exit status: 0 valid (warnings allowed), 1 when any finding is an error,
    /// 2 on usage or I/O errors (e.g. a path that does not exist).
    #[command(
        after_help = "Examples:\n  runner validate\n  runner validate pipelines/seattle_911_crime.yaml\n  runner validate pipelines/ --format json > findings.json\n  runner validate --format github   # annotations on the pull request in GitHub Actions"
    )]
    Validate(ValidateArgs),
    /// Run the rule tests of pipeline files (`tests:`): each raw row is cleaned by its
    /// dataset's rules, offline, and compared with what the test expects.
    ///
    /// A test gives a raw row (`input`, by source column) and either the cleaned values of
    /// the fields it checks (`expect.row`) or the field that rejects it (`expect.rejected`).
    /// Each failure prints what was expected and what the rules gave, field by field.
    ///
    /// Exit status: 0 every test passed; 1 a test failed or a file has errors; 2 usage error.
    #[command(
        after_help = "Examples:\n  runner test\n  runner test pipelines/seattle_911_crime.yaml\n  runner test --format json > tests.json"
    )]
    Test(TestArgs),
    /// Show what `apply` would change: reads the actual Kafka topics, S3 bucket and Glue
    /// database and tables from the target and compares them with the pipeline.
    ///
    /// Each resource gets `+` create, `~` update in place, `-/+` replace or `-` delete, with
    /// attribute diffs, and each change is classed safe, disruptive or destructive. Broker
    /// defaults and parameters AWS adds by itself never show as changes.
    ///
    /// Exit status: 0 success; 1 error (including a change that cannot be made, such as
    /// fewer Kafka partitions); with --detailed-exitcode, 0 no changes, 1 error, 2 changes.
    #[command(
        after_help = "Examples:\n  runner plan\n  runner plan --target aws --out plan.json\n  runner plan --format json --detailed-exitcode"
    )]
    Plan(PlanArgs),
    /// Make the changes a plan shows, in dependency order (bucket, database, tables, topics).
    ///
    /// Give pipeline files (a fresh plan is made first) or a plan saved with `runner plan
    /// --out`; a saved plan is refused when the actual state changed since it was made.
    /// Destructive changes need --allow-destructive; deleting resources that left the
    /// pipeline needs --prune and only touches resources carrying runner's marker. On a
    /// failure part-way, apply reports what was and was not applied; running it again
    /// converges. On remote targets apply holds a lock object in the bucket while it runs.
    ///
    /// Exit status: 0 applied (or nothing to do), 1 refused or failed, 2 usage error.
    #[command(
        after_help = "Examples:\n  runner apply\n  runner plan --target aws --out plan.json && runner apply plan.json --target aws\n  runner apply --target aws --format json > applied.json"
    )]
    Apply(ApplyArgs),
    /// Run the data checks of the catalog tables (`checks:`) on the embedded engine or
    /// Athena: not_null, unique, accepted_values, range, row_count, freshness and SQL checks.
    ///
    /// Each check is a query of the rows that break it; it passes when there are none, and
    /// otherwise reports how many, with up to five of them.
    ///
    /// Exit status: 0 every check passed (`severity: warn` checks may fail); 1 a check
    /// failed or could not run; 2 usage error.
    #[command(
        after_help = "Examples:\n  runner check\n  runner check --table offenses\n  runner check --target aws --engine athena --format json"
    )]
    Check(CheckArgs),
    /// Run a data flow of the pipeline by name: `backfill` (CSV history to the layout),
    /// `ingest` (Socrata API to the topic) or `deliver` (topic to the layout).
    ///
    /// A backfill reads its CSV source, cleans every row with the dataset's rules and writes
    /// the layout's Hive-partitioned Parquet files; rejected rows go to
    /// `<prefix>_rejects/<flow>/` with file, line, field, raw value and reason. The summary's
    /// counts reconcile: read = written + rejected.
    ///
    /// Exit status: 0 done; 1 failed, or more rows rejected than the dataset's
    /// max_reject_ratio allows (ingest: in one poll); 2 usage error; 3 deliver finished
    /// but could not keep its guarantee (records the broker lost, a gap in the dedupe
    /// window, or partitions --once left behind: see the summary's `risks` and `behind`).
    /// Warnings go to stderr unless RUST_LOG says otherwise.
    #[command(
        after_help = "Examples:\n  runner apply && runner run backfill\n  runner run backfill_export --format json\n  runner run ingest --once && runner run deliver --once\n  runner run ingest --target aws   # polls every poll_every until Ctrl-C"
    )]
    Run(RunArgs),
    /// Run a named query of the pipeline (or any SQL with --sql) and print the answer.
    ///
    /// Query templates name catalog tables with `{{ table('NAME') }}`, written the right way
    /// for the engine: `"database"."table"` on Athena, the registered table in the embedded
    /// engine. The embedded engine (DataFusion, in-process) reads the very files the flows
    /// wrote, on the local target's directory or on S3, with the catalog's columns and
    /// Hive partitions; Athena runs in the target's workgroup and Ctrl-C cancels the query.
    /// Without a name, lists the queries.
    ///
    /// Exit status: 0 answered; 1 the query failed (with the engine's reason); 2 usage error.
    #[command(
        after_help = "Examples:\n  runner query\n  runner query by_category\n  runner query by_month --format csv > by_month.csv\n  runner query --sql \"SELECT count(*) FROM {{ table('offenses') }}\" pipelines/seattle_911_crime.yaml\n  runner query by_category --target aws --engine athena --format json"
    )]
    Query(QueryArgs),
    /// Run the dashboard's queries and write one self-contained HTML page per pipeline.
    ///
    /// The page (`DIR/<pipeline>.html`) holds every panel the YAML declares — bar, line,
    /// map (latitude/longitude scatter), table, number — drawn as inline SVG with titles,
    /// axis labels and the time the data was read. It needs no network to view.
    ///
    /// Prints a line per page written, or with --format json the pages and the queries that
    /// failed.
    ///
    /// Exit status: 0 written; 1 a query failed; 2 usage error.
    #[command(
        after_help = "Examples:\n  runner dashboard -o out/\n  runner dashboard pipelines/seattle_911_crime.yaml -o out/ --target aws --engine embedded\n  runner dashboard -o out/ --format json > pages.json"
    )]
    Dashboard(DashboardArgs),
    /// Print the JSON Schema of pipeline files (what schemas/pipeline.schema.json holds).
    ///
    /// Editors use it through yaml-language-server: start a pipeline file with
    /// `# yaml-language-server: $schema=../schemas/pipeline.schema.json`.
    #[command(
        after_help = "Examples:\n  runner schema > schemas/pipeline.schema.json\n  runner schema --markdown > docs/reference.md"
    )]
    Schema(SchemaArgs),
}

/// Arguments of `runner schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Print the reference of every key in Markdown (docs/reference.md) instead of the schema.
    #[arg(long)]
    pub markdown: bool,
}

/// The pipelines a command reads and the target it works on, shared by `plan`, `run`
/// and `dashboard`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// Pipeline files, or directories of them.
    #[arg(default_value = "pipelines")]
    pub paths: Vec<PathBuf>,
    /// The target: `local` (embedded, the default) or a name under `targets:`.
    #[arg(long, default_value = "local")]
    pub target: String,
}

/// Arguments of `runner plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The pipelines and the target.
    #[command(flatten)]
    pub pipelines: PipelineArgs,
    /// Output format: `human` or `json` (the versioned plan format).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Save the plan as JSON for `runner apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 1 on error, 2 when there are changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan the deletion of resources runner made for this pipeline that it no longer
    /// declares.
    #[arg(long)]
    pub prune: bool,
    /// Also show what the cleaning rules in the files do to the first N rows of each
    /// backfill's local CSV source, against the rules last applied: rows kept and rejected
    /// before and after, and per field the values that change, become NULL or start to be
    /// rejected, with examples. Nothing is written.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// The rows to sample (a CSV file of the source's columns) instead of the sources.
    #[arg(long, value_name = "FILE", requires = "sample")]
    pub sample_file: Option<PathBuf>,
}

/// Arguments of `runner apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Pipeline files or directories; or a saved plan (`*.json`) followed by the pipeline
    /// files it was made from (default `pipelines/`).
    #[arg(default_value = "pipelines")]
    pub paths: Vec<PathBuf>,
    /// The target: `local` (embedded, the default) or a name under `targets:`.
    #[arg(long, default_value = "local")]
    pub target: String,
    /// Output format: `human` or `json` (the apply report).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Allow destructive changes (deleting resources, dropping or retyping columns).
    #[arg(long)]
    pub allow_destructive: bool,
    /// Delete resources runner made for this pipeline that it no longer declares.
    #[arg(long)]
    pub prune: bool,
    /// How long to wait for another apply's lock on a remote target (e.g. `30s`, `5m`).
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: crate::spec::types::Duration,
}

/// Arguments of `runner run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The flow's name (a key under `flows:`).
    pub flow: String,
    /// The pipelines and the target.
    #[command(flatten)]
    pub pipelines: PipelineArgs,
    /// Output format of the summary: `human` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Forget the flow's checkpoint and do its input again (backfill flows).
    #[arg(long)]
    pub restart: bool,
    /// Ingest: one poll cycle, then exit. Deliver: until every partition of the topic is
    /// delivered up to where it ended at the start, then exit. For cron and CI; without it
    /// both run until SIGINT or SIGTERM.
    #[arg(long)]
    pub once: bool,
    /// Deliver with --once: how long to wait for partitions other live workers hold (a
    /// killed worker's are taken up when its session ends, within 10 s) before exiting 3
    /// with the partitions still behind and their lag. The default covers a live worker's
    /// batch written by age (`rotate.max_age`, 60 s by default).
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub patience: crate::spec::types::Duration,
}

/// Arguments of `runner query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The query's name (a key under `queries:`); omit it to list the queries. With
    /// --sql, every positional argument is a path.
    pub name: Option<String>,
    /// Pipeline files, or directories of them (default `pipelines`).
    pub paths: Vec<PathBuf>,
    /// Run this SQL (a template: `{{ table('NAME') }}` names a catalog table) instead of a
    /// named query.
    #[arg(long, value_name = "SQL")]
    pub sql: Option<String>,
    /// The target: `local` (embedded, the default) or a name under `targets:`.
    #[arg(long, default_value = "local")]
    pub target: String,
    /// The engine: `auto` (Athena when the target has an `athena:` section), `embedded`
    /// or `athena`.
    #[arg(long, value_enum, default_value_t = crate::query::EngineChoice::Auto)]
    pub engine: crate::query::EngineChoice,
    /// Output format: `table` (its first 1,000 rows aligned, then the row count), `csv`, or
    /// `json` (an array of row objects, one a line). CSV and JSON stream every row.
    #[arg(long, value_enum, default_value_t = crate::query::Output::Table)]
    pub format: crate::query::Output,
}

impl QueryArgs {
    /// Whether the first positional is a path rather than a query name: always with --sql,
    /// otherwise when it names a YAML file or an existing file or directory.
    fn first_is_path(&self) -> bool {
        self.sql.is_some()
            || self.name.as_deref().is_some_and(|n| {
                n.ends_with(".yaml") || n.ends_with(".yml") || std::path::Path::new(n).exists()
            })
    }

    /// The query's name, if one is given.
    pub fn query_name(&self) -> Option<&str> {
        self.name.as_deref().filter(|_| !self.first_is_path())
    }

    /// The pipeline paths: `pipelines` when none is given.
    pub fn pipeline_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = match &self.name {
            Some(first) if self.first_is_path() => vec![PathBuf::from(first)],
            _ => Vec::new(),
        };
        paths.extend(self.paths.iter().cloned());
        if paths.is_empty() {
            paths.push(PathBuf::from("pipelines"));
        }
        paths
    }
}

/// Arguments of `runner dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The pipelines (every one with a `dashboard:` gets a page) and the target.
    #[command(flatten)]
    pub pipelines: PipelineArgs,
    /// The directory the pages are written to (created when missing).
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,
    /// The engine: `auto` (Athena when the target has an `athena:` section), `embedded`
    /// or `athena`.
    #[arg(long, value_enum, default_value_t = crate::query::EngineChoice::Auto)]
    pub engine: crate::query::EngineChoice,
    /// Output format of the report of pages written: `human` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Arguments of `runner check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The pipelines and the target.
    #[command(flatten)]
    pub pipelines: PipelineArgs,
    /// Only this catalog table's checks.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// The engine: `auto` (Athena when the target has an `athena:` section), `embedded`
    /// or `athena`.
    #[arg(long, value_enum, default_value_t = crate::query::EngineChoice::Auto)]
    pub engine: crate::query::EngineChoice,
    /// Output format: `human` or `json` (for CI).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Arguments of `runner test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Pipeline files, or directories whose *.yaml and *.yml files are read.
    #[arg(default_value = "pipelines")]
    pub paths: Vec<PathBuf>,
    /// Output format: `human` or `json` (for CI).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Arguments of `runner validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Pipeline files, or directories whose *.yaml and *.yml files are checked.
    #[arg(default_value = "pipelines")]
    pub paths: Vec<PathBuf>,
    /// Output format: `human` (text with source excerpts), `json` (for programs) or
    /// `github` (GitHub Actions workflow commands: each finding annotates its file and line
    /// in the pull request).
    #[arg(long, value_enum, default_value_t = ValidateFormat::Human)]
    pub format: ValidateFormat,
    /// Also require the environment variables of this target's section to be set.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
}

/// Output formats of `runner validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Text for people.
    Human,
    /// JSON for programs.
    Json,
    /// GitHub Actions workflow commands (`::error file=…,line=…::…`), one per finding.
    Github,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people.
    Human,
    /// JSON for programs.
    Json,
}
