//! Property tests of the loader and checks: whatever the bytes, they never panic, never
//! hang, and every finding points inside the file.

use std::sync::LazyLock;

use proptest::prelude::*;
use runner::check;
use runner::load::{LoadOptions, SchemaChecker, load_bytes};

use crate::util::root;

/// The schema, compiled once for all cases.
static CHECKER: LazyLock<SchemaChecker> = LazyLock::new(SchemaChecker::new);

/// Loads and checks `bytes`; asserts every finding's position lies inside the text.
fn load_and_check(bytes: &[u8]) {
    let checker = &*CHECKER;
    let lookup = |name: &str| (name == "SET").then(|| "value".to_owned());
    let options = LoadOptions {
        lookup: &lookup,
        target: None,
    };
    let (doc, mut diags) = load_bytes("fuzz.yaml", bytes, &options, checker);
    diags.extend(check::check(&doc).1);
    let lines = doc.source.lines().count().max(1) as u32 + 1;
    for d in &diags {
        assert!(
            d.pos.line >= 1 && d.pos.line <= lines,
            "{d:?} outside {lines} lines"
        );
        assert!(d.pos.column >= 1, "{d:?}");
        assert!(!d.message.is_empty());
    }
}

fn seattle() -> String {
    std::fs::read_to_string(root().join("pipelines/seattle_911_crime.yaml")).expect("pipeline")
}

/// Tokens that make YAML-shaped noise: structure, anchors, aliases, tags, quotes.
fn yaml_token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "\n",
        "  ",
        "- ",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ", ",
        "&a ",
        "*a",
        "&b ",
        "*b",
        "!!str ",
        "!!int ",
        "'",
        "\"",
        "#",
        "key",
        "pipeline",
        "topics",
        "partitions",
        "3",
        "-1",
        "x",
        "${SET}",
        "${UNSET:?m}",
        "${",
        "|\n",
        ">\n",
        "---\n",
        "...\n",
        "\t",
        "~",
        "kind",
        "csv",
        "{{ a.year }}",
        "%Y",
        "é",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(
        prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\n'), 1 => any::<u8>()],
        0..400,
    )) {
        load_and_check(&bytes);
    }

    #[test]
    fn yaml_shaped_noise_never_panics(tokens in prop::collection::vec(yaml_token(), 0..120)) {
        load_and_check(tokens.concat().as_bytes());
    }

    #[test]
    fn edits_of_the_real_pipeline_never_panic(
        at in 0usize..10_000,
        len in 0usize..40,
        insert in prop::collection::vec(yaml_token(), 0..4),
    ) {
        let text = seattle();
        let mut bytes = text.into_bytes();
        let start = at % bytes.len();
        let end = (start + len).min(bytes.len());
        bytes.splice(start..end, insert.concat().into_bytes());
        load_and_check(&bytes);
    }
}
