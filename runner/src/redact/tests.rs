//! Tests of the redactor's matching rules and of the line-buffered writer.

use std::io::Write;

use super::*;

fn hidden(value: &str, reference: &str) -> Hidden {
    Hidden {
        value: value.into(),
        reference: reference.into(),
    }
}

fn redactor(pairs: &[(&str, &str)]) -> Redactor {
    let mut r = Redactor::new();
    for (value, reference) in pairs {
        r.add(&hidden(value, reference));
    }
    r
}

#[test]
fn long_values_are_replaced_anywhere_longest_first() {
    let r = redactor(&[
        ("wJalrXUtnFEMI", "${AWS_SECRET_ACCESS_KEY}"),
        ("s3://wJalrXUtnFEMI/x", "s3://${AWS_SECRET_ACCESS_KEY}/x"),
    ]);
    assert_eq!(
        r.redact_str("at s3://wJalrXUtnFEMI/x and keywJalrXUtnFEMIs"),
        "at s3://${AWS_SECRET_ACCESS_KEY}/x and key${AWS_SECRET_ACCESS_KEY}s"
    );
}

#[test]
fn escaped_forms_are_replaced_escaped() {
    let r = redactor(&[("pa\"ss\\word", "${PW}")]);
    let json = serde_json::to_string(&serde_json::json!({ "d": "pa\"ss\\word" })).unwrap();
    assert_eq!(r.redact_str(&json), r#"{"d":"${PW}"}"#);
    let debug = format!("{:?}", "pa\"ss\\word");
    assert_eq!(r.redact_str(&debug), "\"${PW}\"");
}

#[test]
fn short_text_only_as_a_whole_word_short_numbers_and_flags_never() {
    let r = redactor(&[("prod", "${STAGE}"), ("3", "${N}"), ("true", "${F}")]);
    assert_eq!(
        r.redact_str("prod: production-prod 3 true"),
        "${STAGE}: production-${STAGE} 3 true"
    );
    assert!(redactor(&[("", "${E}"), ("  ", "${S}")]).is_empty());
}

#[test]
fn lines_of_a_multi_line_value_are_replaced_one_by_one() {
    let r = redactor(&[("first line of it\nsecond line of it", "${TEXT}")]);
    assert_eq!(r.redact_str("x first line of it\n"), "x ${TEXT}\n");
}

#[test]
fn the_writer_redacts_values_written_in_pieces() {
    hide([&hidden("writer-test-value-71c3", "${WRITER_TEST}")]);
    let mut out = Vec::new();
    {
        let mut w = Redacting::new(&mut out);
        write!(w, "value: writer-te").unwrap();
        write!(w, "st-value-71c3\nand a partial writer-test-value-71c3").unwrap();
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "value: ${WRITER_TEST}\nand a partial ${WRITER_TEST}"
    );
    assert_eq!(text("is writer-test-value-71c3"), "is ${WRITER_TEST}");
}
