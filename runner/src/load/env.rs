//! `${VAR}` interpolation of environment variables in scalar values.
//!
//! Forms: `${VAR}` (unset is reported), `${VAR:-default}` (default when unset or empty),
//! `${VAR:?message}` (an error with the message when unset or empty), and `$$` for a
//! literal `$`.

/// What went wrong while interpolating one scalar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvProblem {
    /// `${VAR}` with `VAR` unset: it became empty text.
    Unset {
        /// The variable.
        name: String,
    },
    /// `${VAR:?message}` with `VAR` unset or empty.
    Required {
        /// The variable.
        name: String,
        /// The file's message.
        message: String,
    },
    /// A malformed reference, at this character offset in the scalar.
    Syntax {
        /// What is wrong.
        message: String,
        /// Character offset of the `$`.
        offset: usize,
    },
}

/// Interpolates `text`, looking variables up with `lookup`. Returns the new text and the
/// problems found (the text is still complete: unset variables become empty).
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> (String, Vec<EnvProblem>) {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                    problems.push(EnvProblem::Syntax {
                        message: "'${' without a closing '}'".into(),
                        offset: i,
                    });
                    out.extend(&chars[i..]);
                    break;
                };
                let body: String = chars[i + 2..i + 2 + close].iter().collect();
                match expand(&body, lookup) {
                    Ok((value, problem)) => {
                        out.push_str(&value);
                        problems.extend(problem);
                    }
                    Err(message) => problems.push(EnvProblem::Syntax { message, offset: i }),
                }
                i += close + 3;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    (out, problems)
}

/// Expands the inside of one `${...}`.
fn expand(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Option<EnvProblem>), String> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, rest) = body.split_at(name_len);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "'${{{body}}}' is not a variable reference: names are letters, digits and '_', not starting with a digit"
        ));
    }
    let value = lookup(name).filter(|v| !v.is_empty());
    if rest.is_empty() {
        return Ok(match lookup(name) {
            Some(v) => (v, None),
            None => (
                String::new(),
                Some(EnvProblem::Unset {
                    name: name.to_owned(),
                }),
            ),
        });
    }
    if let Some(default) = rest.strip_prefix(":-") {
        return Ok((value.unwrap_or_else(|| default.to_owned()), None));
    }
    if let Some(message) = rest.strip_prefix(":?") {
        return Ok(match value {
            Some(v) => (v, None),
            None => (
                String::new(),
                Some(EnvProblem::Required {
                    name: name.to_owned(),
                    message: if message.is_empty() {
                        format!("environment variable {name} must be set")
                    } else {
                        message.to_owned()
                    },
                }),
            ),
        });
    }
    Err(format!(
        "'${{{body}}}': after the name write '}}', ':-default' or ':?message'"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("broker:9092".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn the_three_forms_and_escapes() {
        assert_eq!(interpolate("${HOST}", &env).0, "broker:9092");
        assert_eq!(interpolate("x${NOPE:-d}y", &env).0, "xdy");
        assert_eq!(interpolate("${EMPTY:-d}", &env).0, "d");
        assert_eq!(interpolate("$$5 and $x", &env).0, "$5 and $x");
        let (v, p) = interpolate("${NOPE}", &env);
        assert_eq!(v, "");
        assert_eq!(
            p,
            vec![EnvProblem::Unset {
                name: "NOPE".into()
            }]
        );
        let (_, p) = interpolate("${NOPE:?set the token}", &env);
        assert_eq!(
            p,
            vec![EnvProblem::Required {
                name: "NOPE".into(),
                message: "set the token".into()
            }]
        );
    }

    #[test]
    fn syntax_errors_name_their_offset() {
        let (_, p) = interpolate("ab${HOST", &env);
        assert!(matches!(p[0], EnvProblem::Syntax { offset: 2, .. }));
        let (_, p) = interpolate("${1X}", &env);
        assert!(matches!(p[0], EnvProblem::Syntax { offset: 0, .. }));
        let (_, p) = interpolate("${HOST:=x}", &env);
        assert!(matches!(p[0], EnvProblem::Syntax { .. }));
    }
}
