//! `${VAR}` interpolation of environment variables in scalar values.
//!
//! Forms: `${VAR}` (unset is reported), `${VAR:-default}` (default when unset or empty),
//! `${VAR:?message}` (an error with the message when unset or empty), and `$$` for a
//! literal `$`. The values taken from the environment are reported with the text, so the
//! output can show the reference instead of the value (see [`crate::redact`]).

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

/// One variable whose value came from the environment (not from a default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromEnv {
    /// The variable's name.
    pub name: String,
    /// Its value, as put into the text.
    pub value: String,
}

/// The result of interpolating one scalar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interpolated {
    /// The text with every reference replaced (unset variables become empty).
    pub text: String,
    /// The problems found.
    pub problems: Vec<EnvProblem>,
    /// The variables whose values were taken from the environment, in order.
    pub from_env: Vec<FromEnv>,
}

/// Interpolates `text`, looking variables up with `lookup`. The text is complete even when
/// there are problems: unset variables become empty.
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Interpolated {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut from_env = Vec::new();
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
                        out.push_str(value.text());
                        problems.extend(problem);
                        if let Origin::Env(value) = value {
                            from_env.push(FromEnv {
                                name: body[..name_len(&body)].to_owned(),
                                value,
                            });
                        }
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
    Interpolated {
        text: out,
        problems,
        from_env,
    }
}

/// Where the text put in place of one `${...}` came from.
enum Origin {
    /// The variable's value.
    Env(String),
    /// The file: a default, or empty for an unset variable.
    File(String),
}

impl Origin {
    fn text(&self) -> &str {
        match self {
            Origin::Env(text) | Origin::File(text) => text,
        }
    }
}

/// The length of the variable name at the start of a reference's body.
fn name_len(body: &str) -> usize {
    body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len())
}

/// Expands the inside of one `${...}`.
fn expand(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Origin, Option<EnvProblem>), String> {
    let (name, rest) = body.split_at(name_len(body));
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "'${{{body}}}' is not a variable reference: names are letters, digits and '_', not starting with a digit"
        ));
    }
    let value = lookup(name).filter(|v| !v.is_empty());
    if rest.is_empty() {
        return Ok(match lookup(name) {
            Some(v) => (Origin::Env(v), None),
            None => (
                Origin::File(String::new()),
                Some(EnvProblem::Unset {
                    name: name.to_owned(),
                }),
            ),
        });
    }
    if let Some(default) = rest.strip_prefix(":-") {
        let value = value.map_or_else(|| Origin::File(default.to_owned()), Origin::Env);
        return Ok((value, None));
    }
    if let Some(message) = rest.strip_prefix(":?") {
        return Ok(match value {
            Some(v) => (Origin::Env(v), None),
            None => (
                Origin::File(String::new()),
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
        assert_eq!(interpolate("${HOST}", &env).text, "broker:9092");
        assert_eq!(interpolate("x${NOPE:-d}y", &env).text, "xdy");
        assert_eq!(interpolate("${EMPTY:-d}", &env).text, "d");
        assert_eq!(interpolate("$$5 and $x", &env).text, "$5 and $x");
        let unset = interpolate("${NOPE}", &env);
        assert_eq!(unset.text, "");
        assert_eq!(
            unset.problems,
            vec![EnvProblem::Unset {
                name: "NOPE".into()
            }]
        );
        let required = interpolate("${NOPE:?set the token}", &env);
        assert_eq!(
            required.problems,
            vec![EnvProblem::Required {
                name: "NOPE".into(),
                message: "set the token".into()
            }]
        );
    }

    #[test]
    fn values_from_the_environment_are_reported_defaults_are_not() {
        let got = interpolate("a${HOST}b${NOPE:-d}c${HOST:?x}", &env);
        assert_eq!(got.text, "abroker:9092bdcbroker:9092");
        let host = FromEnv {
            name: "HOST".into(),
            value: "broker:9092".into(),
        };
        assert_eq!(got.from_env, vec![host.clone(), host]);
        assert!(interpolate("${EMPTY:-d}", &env).from_env.is_empty());
    }

    #[test]
    fn syntax_errors_name_their_offset() {
        let p = interpolate("ab${HOST", &env).problems;
        assert!(matches!(p[0], EnvProblem::Syntax { offset: 2, .. }));
        let p = interpolate("${1X}", &env).problems;
        assert!(matches!(p[0], EnvProblem::Syntax { offset: 0, .. }));
        let p = interpolate("${HOST:=x}", &env).problems;
        assert!(matches!(p[0], EnvProblem::Syntax { .. }));
    }
}
