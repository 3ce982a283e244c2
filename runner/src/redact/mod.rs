//! Keeps values read from the environment out of what runner prints.
//!
//! Loading a pipeline notes every value that came from an environment variable through a
//! field not marked public (`x-runner-public` in the schema) as a [`Hidden`]: the value and
//! the text to print instead (`${VAR}`, or the scalar as written, `s3://${BUCKET}/x`). The
//! commands add them to the process-wide [`Redactor`] ([`hide`]) before they print anything,
//! and `main` sends stdout, stderr, logs and panic messages through a [`Redacting`] writer,
//! so every plan, report, diagnostic, error and log line shows the reference, whichever
//! code formatted it.
//!
//! Text is matched as printed, including its JSON and Rust-debug escaped forms. A value of
//! at least [`MIN_ANYWHERE`] characters is replaced wherever it appears. A shorter one is
//! replaced only where it stands as a whole word, and a short number or `true`/`false` is
//! not replaced at all: hiding it would rewrite every count and flag in the output, and a
//! value that short is no credential (credentials belong in secret fields, never printed).

mod writer;

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

pub use writer::Redacting;

/// Values at least this many characters long are hidden wherever they appear; shorter ones
/// only as a whole word.
pub const MIN_ANYWHERE: usize = 8;

/// A value to keep out of the output and the text printed in its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hidden {
    /// The value, as the environment gave it.
    pub value: String,
    /// What is printed instead: the reference as written in the pipeline file.
    pub reference: String,
}

/// One text to find and its replacement.
#[derive(Clone, Debug)]
struct Pattern {
    needle: Vec<u8>,
    replacement: Vec<u8>,
    /// Replace only where no letter, digit or `_` touches either end.
    whole_word: bool,
}

/// Replaces hidden values in text by their references.
#[derive(Clone, Debug)]
pub struct Redactor {
    /// Longest needle first, so a whole scalar wins over the variable inside it.
    patterns: Vec<Pattern>,
    /// Whether some needle starts with this byte.
    first: [bool; 256],
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl Redactor {
    /// A redactor that hides nothing.
    pub const fn new() -> Self {
        Redactor {
            patterns: Vec::new(),
            first: [false; 256],
        }
    }

    /// Hides `hidden` from now on (see the module's rules for short values).
    pub fn add(&mut self, hidden: &Hidden) {
        let value = hidden.value.as_str();
        let short = value.chars().count() < MIN_ANYWHERE;
        if value.trim().is_empty() || (short && is_number_or_flag(value)) {
            return;
        }
        let reference = hidden.reference.as_str();
        let mut forms = vec![
            (value.to_owned(), reference.to_owned()),
            (json_escaped(value), json_escaped(reference)),
            (debug_escaped(value), debug_escaped(reference)),
        ];
        // Output is redacted a line at a time; each long line of a multi-line value too.
        forms.extend(
            value
                .lines()
                .filter(|line| line != &value && line.chars().count() >= MIN_ANYWHERE)
                .map(|line| (line.to_owned(), reference.to_owned())),
        );
        for (needle, replacement) in forms {
            if self.patterns.iter().any(|p| p.needle == needle.as_bytes()) {
                continue;
            }
            self.first[usize::from(needle.as_bytes()[0])] = true;
            self.patterns.push(Pattern {
                needle: needle.into_bytes(),
                replacement: replacement.into_bytes(),
                whole_word: short,
            });
        }
        self.patterns
            .sort_by_key(|p| std::cmp::Reverse(p.needle.len()));
    }

    /// Whether nothing is hidden.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `text` with every hidden value replaced by its reference.
    pub fn redact<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        if self.patterns.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut i = 0;
        while i < text.len() {
            let found = self.first[usize::from(text[i])]
                .then(|| self.patterns.iter().find(|p| p.matches(text, i)))
                .flatten();
            let Some(pattern) = found else {
                i += 1;
                continue;
            };
            let out = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
            out.extend_from_slice(&text[copied..i]);
            out.extend_from_slice(&pattern.replacement);
            i += pattern.needle.len();
            copied = i;
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut out) => {
                out.extend_from_slice(&text[copied..]);
                Cow::Owned(out)
            }
        }
    }

    /// [`Redactor::redact`] for text.
    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Needles and replacements are whole UTF-8 strings, so the result is one too.
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }
}

impl Pattern {
    fn matches(&self, text: &[u8], at: usize) -> bool {
        if !text[at..].starts_with(&self.needle) {
            return false;
        }
        !self.whole_word
            || (at.checked_sub(1).is_none_or(|b| !is_word_byte(text[b]))
                && text
                    .get(at + self.needle.len())
                    .is_none_or(|&b| !is_word_byte(b)))
    }
}

/// A byte of a word: ASCII letters, digits, `_`, and any byte of a non-ASCII character.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Whether `value` reads as a number or a boolean.
fn is_number_or_flag(value: &str) -> bool {
    let v = value.trim();
    v.parse::<f64>().is_ok() || matches!(v, "true" | "false" | "True" | "False" | "TRUE" | "FALSE")
}

/// `text` as it appears inside a JSON string.
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::from(text).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// `text` as it appears inside a Rust `{:?}` string.
fn debug_escaped(text: &str) -> String {
    let quoted = format!("{text:?}");
    quoted[1..quoted.len() - 1].to_owned()
}

/// The process-wide redactor that [`Redacting`] writers apply.
static SHARED: RwLock<Redactor> = RwLock::new(Redactor::new());

/// Hides `hidden` in everything printed from now on through [`Redacting`] or [`text`].
pub fn hide<'a>(hidden: impl IntoIterator<Item = &'a Hidden>) {
    let mut shared = SHARED.write().unwrap_or_else(PoisonError::into_inner);
    for h in hidden {
        shared.add(h);
    }
}

/// `text` with the values hidden so far replaced, for code that must cut text to a length
/// (a value cut in half would no longer be recognised when printed).
pub fn text(text: &str) -> String {
    let shared = SHARED.read().unwrap_or_else(PoisonError::into_inner);
    shared.redact_str(text).into_owned()
}

/// Writes `bytes` to `out` through the process-wide redactor (as they are when nothing
/// matches: no copy).
fn write_redacted(out: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    let shared = SHARED.read().unwrap_or_else(PoisonError::into_inner);
    out.write_all(&shared.redact(bytes))
}

#[cfg(test)]
mod tests;
