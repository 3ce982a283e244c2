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
        after_help = "Examples:\n  runner validate\n  runner validate pipelines/seattle_911_crime.yaml\n  runner validate pipelines/ --format json > findings.json"
    )]
    Validate(ValidateArgs),
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

/// Arguments of `runner validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Pipeline files, or directories whose *.yaml and *.yml files are checked.
    #[arg(default_value = "pipelines")]
    pub paths: Vec<PathBuf>,
    /// Output format: `human` (text with source excerpts) or `json` (for CI annotations).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Also require the environment variables of this target's section to be set.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people.
    Human,
    /// JSON for programs.
    Json,
}
