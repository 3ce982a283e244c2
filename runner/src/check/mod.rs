//! Checks beyond the schema: names the services would reject, references between
//! sections, templates, formats, timezones, regexes and the types that flow into partition
//! paths. Every check runs and every finding is collected; nothing stops at the first.

mod columns;
mod dataset;
mod durations;
pub mod names;
mod refs;
mod sql;
mod templates;

use crate::diag::{Diagnostic, Severity};
use crate::load::{Document, SpanIndex};
use crate::spec::Pipeline;

/// A pipeline that passed every check; what `plan` and `run` consume.
#[derive(Clone, Debug)]
pub struct Validated {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The file it came from.
    pub file: String,
}

/// Runs every check on `doc`. Returns the validated pipeline when nothing is an error,
/// and all findings either way.
pub fn check(doc: &Document) -> (Option<Validated>, Vec<Diagnostic>) {
    let Some(pipeline) = &doc.pipeline else {
        return (None, Vec::new());
    };
    let mut ctx = Ctx {
        file: &doc.file,
        source: &doc.source,
        index: &doc.index,
        pipeline,
        out: Vec::new(),
    };
    ctx.name_rules();
    dataset::check_datasets(&mut ctx);
    durations::check_durations(&mut ctx);
    refs::check_references(&mut ctx);
    templates::check_templates(&mut ctx);
    columns::check_columns(&mut ctx);
    sql::check_sql(&mut ctx);
    let diags = ctx.out;
    let ok = !diags
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error);
    let validated = ok.then(|| Validated {
        pipeline: pipeline.clone(),
        file: doc.file.clone(),
    });
    (validated, diags)
}

/// Findings across files: two files may not declare the same pipeline name.
pub fn check_across(docs: &[Document]) -> Vec<Diagnostic> {
    let mut seen: Vec<(&str, &Document)> = Vec::new();
    let mut out = Vec::new();
    for doc in docs {
        let Some(p) = &doc.pipeline else { continue };
        if let Some((_, first)) = seen.iter().find(|(name, _)| *name == p.pipeline) {
            out.push(Diagnostic::error(
                &doc.file,
                doc.index.span("/pipeline", false),
                "pipeline",
                format!(
                    "pipeline '{}' is also declared in {}",
                    p.pipeline, first.file
                ),
            ));
        } else {
            seen.push((&p.pipeline, doc));
        }
    }
    out
}

/// The state shared by the checks of one document.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    /// The file's text, to point inside a value (a word of a query).
    source: &'a str,
    index: &'a SpanIndex,
    pipeline: &'a Pipeline,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// How many errors were found so far.
    fn errors(&self) -> usize {
        self.out
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Records an error at the value of `pointer` (or its key with `on_key`).
    fn error(
        &mut self,
        pointer: &str,
        on_key: bool,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.record(Severity::Error, pointer, on_key, message.into())
    }

    /// Records a warning at the value of `pointer` (or its key with `on_key`).
    fn warning(
        &mut self,
        pointer: &str,
        on_key: bool,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.record(Severity::Warning, pointer, on_key, message.into())
    }

    /// Records a finding of `severity` at the value of `pointer` (or its key).
    fn record(
        &mut self,
        severity: Severity,
        pointer: &str,
        on_key: bool,
        message: String,
    ) -> &mut Diagnostic {
        let located = self.index.find(pointer);
        let span = self.index.span(pointer, on_key);
        self.out.push(Diagnostic {
            severity,
            ..Diagnostic::error(self.file, span, &located.path, message)
        });
        self.out.last_mut().expect("just pushed")
    }

    /// Records a finding at the first whole-word occurrence of `word` (any case) inside
    /// the value of `pointer`, or at the whole value when the word is not there.
    fn record_at_word(
        &mut self,
        severity: Severity,
        pointer: &str,
        word: Option<&str>,
        message: String,
    ) -> &mut Diagnostic {
        let value = self.index.span(pointer, false);
        let found = word.and_then(|w| find_word(self.source, value, w));
        let diagnostic = self.record(severity, pointer, false, message);
        if let Some(span) = found {
            diagnostic.pos = span.start;
            diagnostic.end = span.end;
        }
        diagnostic
    }

    /// Reports a rule's `Err` at `pointer`.
    fn rule(&mut self, pointer: &str, on_key: bool, result: Result<(), String>) {
        if let Err(message) = result {
            self.error(pointer, on_key, message);
        }
    }

    /// Names of every section's entries.
    fn name_rules(&mut self) {
        let p = self.pipeline;
        self.rule(
            "/pipeline",
            false,
            names::identifier("pipeline", &p.pipeline),
        );
        let sections: [(&str, &str, Vec<&String>); 6] = [
            ("sources", "source", p.sources.keys().collect()),
            ("datasets", "dataset", p.datasets.keys().collect()),
            ("flows", "flow", p.flows.keys().collect()),
            ("queries", "query", p.queries.keys().collect()),
            ("targets", "target", p.targets.keys().collect()),
            (
                "storage/layouts",
                "layout",
                p.storage.iter().flat_map(|s| s.layouts.keys()).collect(),
            ),
        ];
        for (section, what, keys) in sections {
            for key in keys {
                self.rule(&ptr(&[section, key]), true, names::identifier(what, key));
            }
        }
        for name in p.topics.keys() {
            self.rule(&ptr(&["topics", name]), true, names::kafka_topic(name));
        }
        if let Some(storage) = &p.storage {
            self.rule("/storage/bucket", false, names::s3_bucket(&storage.bucket));
        }
        if let Some(catalog) = &p.catalog {
            self.rule(
                "/catalog/database",
                false,
                names::glue("database", &catalog.database),
            );
            for table in catalog.tables.keys() {
                self.rule(
                    &ptr(&["catalog", "tables", table]),
                    true,
                    names::glue("table", table),
                );
            }
        }
        if p.targets.contains_key("local") {
            self.error(
                "/targets/local",
                true,
                "'local' is the built-in embedded target",
            )
            .hint = Some("rename this target; `local` needs no configuration".into());
        }
    }
}

/// A JSON Pointer from path segments; a segment may itself hold `/` (like
/// `storage/layouts`), which is kept as a separator.
pub(crate) fn ptr(segments: &[&str]) -> String {
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        out.push('/');
        if i == 0 {
            out.push_str(segment);
        } else {
            out.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        }
    }
    out
}

/// The span of the first whole-word, case-insensitive occurrence of `word` in `source`
/// within `within`.
fn find_word(source: &str, within: crate::diag::Span, word: &str) -> Option<crate::diag::Span> {
    use crate::diag::{Pos, Span};
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let wanted: Vec<char> = word.to_lowercase().chars().collect();
    for (n, line) in source.lines().enumerate() {
        let number = n as u32 + 1;
        if number < within.start.line || number > within.end.line {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let from = if number == within.start.line {
            within.start.column.saturating_sub(1) as usize
        } else {
            0
        };
        for start in from..chars.len() {
            let end = start + wanted.len();
            if end > chars.len() {
                break;
            }
            let matches = chars[start..end]
                .iter()
                .zip(&wanted)
                .all(|(a, b)| a.to_lowercase().eq(std::iter::once(*b)));
            let bounded = (start == 0 || !is_word(chars[start - 1]))
                && chars.get(end).is_none_or(|c| !is_word(*c));
            if matches && bounded {
                let at = |column: usize| Pos {
                    line: number,
                    column: column as u32 + 1,
                };
                return Some(Span {
                    start: at(start),
                    end: at(end),
                });
            }
        }
    }
    None
}
