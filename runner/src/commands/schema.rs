//! `runner schema`: prints the pipeline JSON Schema or its Markdown reference.

use std::io::Write;

use crate::cli::SchemaArgs;

/// The schema as committed in schemas/pipeline.schema.json: pretty JSON and a newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&crate::spec::json_schema())
        .expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Prints the schema, or with `--markdown` the reference, to `out`.
pub fn run(args: &SchemaArgs, out: &mut dyn Write) -> Result<super::Outcome, super::CommandError> {
    let text = if args.markdown {
        super::reference::markdown(&crate::spec::json_schema())
    } else {
        schema_text()
    };
    out.write_all(text.as_bytes())?;
    Ok(super::Outcome::Success)
}
