//! YAML text -> a tree of [`Node`]s that keep their source spans.
//!
//! Built on `saphyr-parser`'s event stream so every key and value keeps its position.
//! Aliases are expanded with a budget of nodes and one of bytes, and nesting is capped, so
//! a YAML bomb (many aliases of a deep tree, or of one long scalar) or a deeply nested
//! document is an error, not memory exhaustion.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

use crate::diag::{Pos, Span};

/// Most nodes a document may expand to (aliases included).
pub const MAX_NODES: usize = 100_000;
/// Most bytes of scalar text a document may expand to (aliases included): four times the
/// largest file, so reusing a block through aliases is fine and a bomb is not.
pub const MAX_EXPANDED_BYTES: usize = 4 * super::MAX_FILE_BYTES;
/// Deepest nesting of mappings and sequences.
pub const MAX_DEPTH: usize = 64;

/// A YAML node with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: NodeValue,
    /// Where it is written.
    pub span: Span,
}

/// The value of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    /// A scalar: its text, whether it was written plain (unquoted, so `3` is a number), and
    /// its tag if one was given (`!!str`).
    Scalar {
        /// The scalar's text.
        text: String,
        /// Written without quotes or block markers.
        plain: bool,
        /// The tag's suffix, e.g. `str` for `!!str`.
        tag: Option<String>,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

/// A YAML error: message and where.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlError {
    /// What went wrong.
    pub message: String,
    /// Where.
    pub span: Span,
}

fn pos(marker: &saphyr_parser::Marker) -> Pos {
    Pos {
        line: marker.line() as u32,
        column: marker.col() as u32 + 1,
    }
}

fn span(s: &YamlSpan) -> Span {
    Span {
        start: pos(&s.start),
        end: pos(&s.end),
    }
}

/// A container being built.
enum Open {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

/// Parses one YAML document. An empty document is `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;
    let mut bytes = 0usize;
    let mut documents = 0usize;

    while let Some(next) = parser.next_event() {
        let (event, ev_span) = next.map_err(|e| YamlError {
            message: if e.info().contains("recursion limit") {
                format!("the document nests deeper than {MAX_DEPTH} levels")
            } else {
                e.info().to_owned()
            },
            span: Span::point(pos(e.marker())),
        })?;
        let here = span(&ev_span);
        let finished: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        message: "a pipeline file holds one YAML document; found a second".into(),
                        span: here,
                    });
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                bytes += value.len();
                let node = Node {
                    value: NodeValue::Scalar {
                        text: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                        tag: tag.map(|t| t.suffix.clone()),
                    },
                    span: here,
                };
                Some((node, anchor))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(here));
                }
                stack.push(Open::Seq(Vec::new(), here, anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(here));
                }
                stack.push(Open::Map(Vec::new(), None, here, anchor));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(items, start, anchor)) => Some((
                    Node {
                        value: NodeValue::Seq(items),
                        span: Span {
                            start: start.start,
                            end: here.end,
                        },
                    },
                    anchor,
                )),
                _ => return Err(internal(here)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(entries, _, start, anchor)) => Some((
                    Node {
                        value: NodeValue::Map(entries),
                        span: Span {
                            start: start.start,
                            end: here.end,
                        },
                    },
                    anchor,
                )),
                _ => return Err(internal(here)),
            },
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(YamlError {
                        message: "alias refers to an unknown anchor".into(),
                        span: here,
                    });
                };
                nodes += count(target);
                if nodes > MAX_NODES {
                    return Err(too_big(here));
                }
                // Checked before the copy is made: the copy is what would exhaust memory.
                bytes += text_bytes(target);
                if bytes > MAX_EXPANDED_BYTES {
                    return Err(too_long(here));
                }
                let mut copy = target.clone();
                copy.span = here;
                Some((copy, 0))
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(too_big(node.span));
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Open::Seq(items, ..)) => items.push(node),
            Some(Open::Map(entries, pending, ..)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
    Ok(root)
}

/// Number of nodes under and including `node`.
fn count(node: &Node) -> usize {
    match &node.value {
        NodeValue::Scalar { .. } => 1,
        NodeValue::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        NodeValue::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
    }
}

/// Bytes of scalar text under and including `node`.
fn text_bytes(node: &Node) -> usize {
    match &node.value {
        NodeValue::Scalar { text, .. } => text.len(),
        NodeValue::Seq(items) => items.iter().map(text_bytes).sum(),
        NodeValue::Map(entries) => entries
            .iter()
            .map(|(k, v)| text_bytes(k) + text_bytes(v))
            .sum(),
    }
}

fn too_long(span: Span) -> YamlError {
    YamlError {
        message: format!(
            "with this alias the document expands to more than {} of text; is it an alias bomb?",
            crate::spec::types::Size(MAX_EXPANDED_BYTES as u64)
        ),
        span,
    }
}

fn too_deep(span: Span) -> YamlError {
    YamlError {
        message: format!("the document nests deeper than {MAX_DEPTH} levels"),
        span,
    }
}

fn too_big(span: Span) -> YamlError {
    YamlError {
        message: format!(
            "the document expands to more than {MAX_NODES} nodes (aliases included); is it an alias bomb?"
        ),
        span,
    }
}

fn internal(span: Span) -> YamlError {
    YamlError {
        message: "unbalanced YAML events".into(),
        span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_spans_of_keys_and_values() {
        let node = parse("a:\n  b: 12\n").unwrap().unwrap();
        let NodeValue::Map(top) = &node.value else {
            panic!("map")
        };
        let NodeValue::Map(inner) = &top[0].1.value else {
            panic!("map")
        };
        assert_eq!(inner[0].0.span.start, Pos { line: 2, column: 3 });
        assert_eq!(inner[0].1.span.start, Pos { line: 2, column: 6 });
    }

    #[test]
    fn alias_bomb_is_an_error() {
        let mut doc = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = (b'a' + i - 1) as char;
            let this = (b'a' + i) as char;
            doc.push_str(&format!(
                "{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let err = parse(&doc).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let doc = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = parse(&doc).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{}", err.message);
    }

    #[test]
    fn second_document_is_an_error() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.span.start.line, 2);
    }
}
