//! Diagnostics as data: what is wrong, where, and how to fix it.
//!
//! A [`Diagnostic`] is plain data; [`render_human`] and the JSON form (serde) render it.
//! Nothing here knows about YAML or pipelines.

use std::fmt;

use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The pipeline cannot be used; `runner validate` exits 1.
    Error,
    /// Worth fixing, but the pipeline works.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A position in a source file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
}

/// A range in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Where the range starts.
    pub start: Pos,
    /// Where it ends (exclusive).
    pub end: Pos,
}

impl Span {
    /// A span covering one character at `pos`.
    pub fn point(pos: Pos) -> Span {
        Span {
            start: pos,
            end: Pos {
                line: pos.line,
                column: pos.column + 1,
            },
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file the finding is in.
    pub file: String,
    /// Where in the file.
    #[serde(flatten)]
    pub pos: Pos,
    /// Where it ends (for the caret's width).
    #[serde(skip)]
    pub end: Pos,
    /// The path inside the document, e.g. `topics.seattle_911_crime.partitions`.
    pub path: String,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// How to fix it, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span` of `file`.
    pub fn error(file: &str, span: Span, path: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_owned(),
            pos: span.start,
            end: span.end,
            path: path.to_owned(),
            severity: Severity::Error,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at `span` of `file`.
    pub fn warning(file: &str, span: Span, path: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, span, path, message)
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sort key: file, then position, then message.
    pub fn sort_key(&self) -> (&str, Pos, &str) {
        (&self.file, self.pos, &self.message)
    }
}

/// Renders one diagnostic for people: the message, `file:line:column`, the source line with a
/// caret under the span, the document path and the hint. `source` is the file's text (when it
/// could be read); `color` turns on ANSI styling.
pub fn render_human(diag: &Diagnostic, source: Option<&str>, color: bool) -> String {
    use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

    let level = match diag.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let origin = format!("{}:{}:{}", diag.file, diag.pos.line, diag.pos.column);
    let line_text = source.and_then(|s| s.lines().nth(diag.pos.line.saturating_sub(1) as usize));
    let mut group = Group::with_title(level.primary_title(diag.message.as_str()));
    match line_text {
        Some(text) => {
            let range = caret_range(text, diag.pos, diag.end);
            group = group.element(
                Snippet::source(text)
                    .line_start(diag.pos.line as usize)
                    .path(diag.file.as_str())
                    .annotation(AnnotationKind::Primary.span(range)),
            );
        }
        None => {
            group = group.element(Level::NOTE.message(format!("at {origin}")));
        }
    }
    if !diag.path.is_empty() {
        group = group.element(Level::NOTE.message(format!("in {}", diag.path)));
    }
    if let Some(hint) = &diag.hint {
        group = group.element(Level::HELP.message(hint.as_str()));
    }
    renderer.render(&[group]).to_string()
}

/// The byte range within `line` that the caret underlines: from `start` to `end` when both
/// are on this line, otherwise to the end of the line (at least one character).
fn caret_range(line: &str, start: Pos, end: Pos) -> std::ops::Range<usize> {
    let byte_at = |column: u32| {
        line.char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map_or(line.len(), |(i, _)| i)
    };
    let from = byte_at(start.column);
    let to = if end.line == start.line && end.column > start.column {
        byte_at(end.column)
    } else {
        line.trim_end().len()
    };
    if to > from {
        from..to
    } else {
        let next = line[from..].chars().next().map_or(0, char::len_utf8);
        from..from + next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_rendering_names_location_line_caret_path_and_hint() {
        let src = "topics:\n  t:\n    partitons: 3\n";
        let span = Span {
            start: Pos { line: 3, column: 5 },
            end: Pos {
                line: 3,
                column: 14,
            },
        };
        let d = Diagnostic::error("p.yaml", span, "topics.t", "unknown key 'partitons'")
            .with_hint("did you mean 'partitions'?");
        let out = render_human(&d, Some(src), false);
        assert!(out.contains("error: unknown key 'partitons'"), "{out}");
        assert!(out.contains("p.yaml:3:5"), "{out}");
        assert!(out.contains("partitons: 3"), "{out}");
        assert!(out.contains("^^^^^^^^^"), "{out}");
        assert!(out.contains("in topics.t"), "{out}");
        assert!(out.contains("did you mean 'partitions'?"), "{out}");
    }

    #[test]
    fn caret_never_points_past_the_line() {
        assert_eq!(
            caret_range("ab", Pos { line: 1, column: 9 }, Pos::default()),
            2..2
        );
        assert_eq!(
            caret_range("é: x", Pos { line: 1, column: 2 }, Pos::default()),
            2..5
        );
    }
}
