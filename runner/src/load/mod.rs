//! Pipeline files -> [`Document`]s: YAML parsed with spans, environment references
//! interpolated, validated against the JSON Schema and deserialized into
//! [`spec::Pipeline`](crate::spec::Pipeline). Every problem becomes a [`Diagnostic`].
//! The values taken from the environment that must not be printed are kept with the
//! document ([`Document::hidden`]).

pub mod env;
pub mod hidden;
pub mod schema_check;
pub mod tree;
pub mod yaml;

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Pos, Span};
use crate::spec::Pipeline;
pub use schema_check::SchemaChecker;
pub use tree::SpanIndex;
use tree::{Convert, TreeProblemKind};

/// Largest pipeline file accepted.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// One loaded pipeline file.
#[derive(Debug)]
pub struct Document {
    /// The file's name as given on the command line (used in diagnostics).
    pub file: String,
    /// The file's text (for rendering source lines).
    pub source: String,
    /// Where each value sits in the file.
    pub index: SpanIndex,
    /// The typed pipeline, when the file matched the schema.
    pub pipeline: Option<Pipeline>,
    /// Values from the environment in fields not marked public, never to be printed.
    pub hidden: Vec<crate::redact::Hidden>,
}

/// How files are loaded.
pub struct LoadOptions<'a> {
    /// Looks up environment variables.
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The target whose variables must be set now (`--target`).
    pub target: Option<&'a str>,
}

/// Reads and loads the pipeline file at `path`. An unreadable file is an `Err` (a usage or
/// I/O problem); everything wrong inside the file is a diagnostic.
pub fn load_file(
    path: &Path,
    options: &LoadOptions<'_>,
    checker: &SchemaChecker,
) -> std::io::Result<(Document, Vec<Diagnostic>)> {
    let bytes = std::fs::read(path)?;
    let file = path.display().to_string();
    Ok(load_bytes(&file, &bytes, options, checker))
}

/// Loads a pipeline from bytes; `file` names it in diagnostics.
pub fn load_bytes(
    file: &str,
    bytes: &[u8],
    options: &LoadOptions<'_>,
    checker: &SchemaChecker,
) -> (Document, Vec<Diagnostic>) {
    let mut doc = Document {
        file: file.to_owned(),
        source: String::new(),
        index: SpanIndex::default(),
        pipeline: None,
        hidden: Vec::new(),
    };
    let start = Span::point(Pos { line: 1, column: 1 });
    if bytes.len() > MAX_FILE_BYTES {
        let message = format!(
            "the file is {} bytes; pipeline files are limited to {MAX_FILE_BYTES}",
            bytes.len()
        );
        return (doc, vec![Diagnostic::error(file, start, "", message)]);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            let pos = end_of(valid);
            doc.source = valid.to_owned();
            let message = format!("the file is not valid UTF-8 (byte {})", e.valid_up_to() + 1);
            return (
                doc,
                vec![Diagnostic::error(file, Span::point(pos), "", message)],
            );
        }
    };
    doc.source = text.strip_prefix('\u{feff}').unwrap_or(text).to_owned();
    let root = match yaml::parse(&doc.source) {
        Ok(Some(root)) => root,
        Ok(None) => {
            let d = Diagnostic::error(file, start, "", "the file is empty")
                .with_hint("a pipeline file needs at least `pipeline: NAME`");
            return (doc, vec![d]);
        }
        Err(e) => {
            let d = Diagnostic::error(file, e.span, "", format!("YAML syntax: {}", e.message));
            return (doc, vec![d]);
        }
    };
    let converted = Convert {
        lookup: options.lookup,
        target: options.target,
    }
    .run(&root);
    let value = converted.value;
    doc.index = converted.index;
    doc.hidden = hidden::hidden(&converted.env, &value, checker);
    let mut diags: Vec<Diagnostic> = converted
        .problems
        .into_iter()
        .map(|p| tree_problem(file, p))
        .collect();
    diags.extend(checker.check(file, &value, &doc.index));
    if !diags
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error)
    {
        match serde_json::from_value::<Pipeline>(value) {
            Ok(pipeline) => doc.pipeline = Some(pipeline),
            Err(e) => diags.push(Diagnostic::error(file, start, "", e.to_string())),
        }
    }
    (doc, diags)
}

/// The position just after `text`.
fn end_of(text: &str) -> Pos {
    let line = text.matches('\n').count() as u32 + 1;
    let last = text.rsplit('\n').next().unwrap_or("");
    Pos {
        line,
        column: last.chars().count() as u32 + 1,
    }
}

fn tree_problem(file: &str, p: tree::TreeProblem) -> Diagnostic {
    use env::EnvProblem;
    match p.problem {
        TreeProblemKind::DuplicateKey(key, first) => Diagnostic::error(
            file,
            p.span,
            &p.path,
            format!("duplicate key '{key}' (first on line {first})"),
        ),
        TreeProblemKind::ComplexKey => {
            Diagnostic::error(file, p.span, &p.path, "keys must be plain text")
        }
        TreeProblemKind::Env(EnvProblem::Unset { name }) => Diagnostic::warning(
            file,
            p.span,
            &p.path,
            format!("environment variable {name} is not set; the value is empty"),
        )
        .with_hint(format!(
            "set {name}, or write ${{{name}:-default}} for a default or ${{{name}:?message}} to require it"
        )),
        TreeProblemKind::Env(EnvProblem::Required { name, message }) => Diagnostic::error(
            file,
            p.span,
            &p.path,
            format!("environment variable {name} is required: {message}"),
        ),
        TreeProblemKind::Env(EnvProblem::Syntax { message, offset }) => {
            let mut span = p.span;
            if span.start.line == span.end.line {
                span.start.column += offset as u32;
            }
            Diagnostic::error(file, span, &p.path, message)
        }
    }
}

/// Expands command-line paths: files as given, directories to their `*.yaml`/`*.yml` files
/// (sorted, not recursive).
pub fn expand_paths(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            found.sort();
            out.extend(found);
        } else if path.exists() {
            out.push(path.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or directory", path.display()),
            ));
        }
    }
    Ok(out)
}

/// The shipped Seattle pipeline, loaded and typed, for unit tests.
#[cfg(test)]
pub(crate) fn seattle_pipeline() -> Pipeline {
    let text = include_str!("../../../pipelines/seattle_911_crime.yaml");
    let lookup = |_: &str| None;
    let options = LoadOptions {
        lookup: &lookup,
        target: None,
    };
    let (doc, diags) = load_bytes("p.yaml", text.as_bytes(), &options, &SchemaChecker::new());
    assert!(diags.is_empty(), "{diags:?}");
    doc.pipeline.expect("the shipped pipeline is typed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_of_a_long_scalar_are_refused_at_the_alias_that_crosses_the_byte_budget() {
        // A 1 MiB anchored scalar and aliases of it, one a line, filling a 4 MiB file: a
        // few hundred thousand aliases, far under the node budget, each a 1 MiB copy.
        let scalar = 1usize << 20;
        let mut text = format!(
            "pipeline: demo\nbig: &big \"{}\"\nmany:\n",
            "x".repeat(scalar)
        );
        while text.len() + 9 <= MAX_FILE_BYTES {
            text.push_str("  - *big\n");
        }
        assert!(text.len() > MAX_FILE_BYTES - 9);
        let lookup = |_: &str| None;
        let options = LoadOptions {
            lookup: &lookup,
            target: None,
        };
        let started = std::time::Instant::now();
        let (_, diags) = load_bytes(
            "bomb.yaml",
            text.as_bytes(),
            &options,
            &SchemaChecker::new(),
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "refused after {:?}",
            started.elapsed()
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        let d = &diags[0];
        assert_eq!(d.file, "bomb.yaml");
        // The text before the aliases ("pipeline", "demo", "big", "many" and the scalar)
        // is 1 MiB and 19 bytes: the 15th alias, on line 3 + 15, crosses 16 MiB.
        assert_eq!((d.pos.line, d.pos.column), (18, 5), "{d:?}");
        assert_eq!(
            d.message,
            "YAML syntax: with this alias the document expands to more than 16.0 MiB of text; is it an alias bomb?"
        );
    }
}
