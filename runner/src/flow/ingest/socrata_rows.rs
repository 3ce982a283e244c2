//! A Socrata page (a JSON array of flat objects) read straight into text columns: one pass
//! over the bytes with no tree per row. Strings without escapes are borrowed from the body,
//! absent keys and nulls become nulls, and any other value (a number, a boolean, nested
//! JSON) becomes its JSON text.

use std::borrow::Cow;
use std::fmt;

use arrow_array::builder::StringBuilder;
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A page's rows as text columns.
pub struct Rows {
    /// One builder per requested column, in the order asked for.
    pub columns: Vec<StringBuilder>,
    /// Each row's watermark value when it is a string, else null.
    pub watermarks: StringBuilder,
}

/// Reads the JSON array `body` into the text columns `names`, and the watermark field
/// `watermark` of each row. Errors are serde_json's, with their line and column.
pub fn read(body: &[u8], names: &[String], watermark: &str) -> Result<Rows, serde_json::Error> {
    let guess = body.len() / 512 + 1;
    let mut rows = Rows {
        columns: names
            .iter()
            .map(|_| StringBuilder::with_capacity(guess, guess * 16))
            .collect(),
        watermarks: StringBuilder::with_capacity(guess, guess * 24),
    };
    let mut json = serde_json::Deserializer::from_slice(body);
    Array {
        names,
        watermark,
        rows: &mut rows,
    }
    .deserialize(&mut json)?;
    json.end()?;
    Ok(rows)
}

/// The page's array, each element read by [`Row`].
struct Array<'a> {
    names: &'a [String],
    watermark: &'a str,
    rows: &'a mut Rows,
}

impl<'de> DeserializeSeed<'de> for Array<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Array<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // One row's values, reused from row to row.
        let mut values: Vec<Option<Field<'de>>> = self.names.iter().map(|_| None).collect();
        let mut mark = None;
        loop {
            let row = Row {
                names: self.names,
                watermark: self.watermark,
                values: &mut values,
                mark: &mut mark,
            };
            if seq.next_element_seed(row)?.is_none() {
                return Ok(());
            }
            for (column, value) in self.rows.columns.iter_mut().zip(&mut values) {
                match value.take() {
                    None | Some(Field::Null) => column.append_null(),
                    Some(Field::Text(text)) => column.append_value(text),
                    Some(Field::Json(text)) => column.append_value(text),
                }
            }
            match mark.take() {
                Some(text) => self.rows.watermarks.append_value(text),
                None => self.rows.watermarks.append_null(),
            }
        }
    }
}

/// One row (a JSON object): the values of the wanted keys land in `values`, the watermark's
/// in `mark`; other keys are skipped without being read into memory.
struct Row<'a, 'de> {
    names: &'a [String],
    watermark: &'a str,
    values: &'a mut [Option<Field<'de>>],
    mark: &'a mut Option<Cow<'de, str>>,
}

impl<'de> DeserializeSeed<'de> for Row<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Row<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one row)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Rows usually list their keys in the same order: try the column after the last
        // one found before searching them all.
        let mut hint = 0;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let column = match self.names.get(hint) {
                Some(name) if *name == key => Some(hint),
                _ => self.names.iter().position(|name| *name == key),
            };
            let is_mark = key == self.watermark;
            if column.is_none() && !is_mark {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value: Field<'de> = map.next_value()?;
            if is_mark {
                *self.mark = match &value {
                    Field::Text(text) => Some(text.clone()),
                    _ => None,
                };
            }
            if let Some(column) = column {
                self.values[column] = Some(value);
                hint = column + 1;
            }
        }
        Ok(())
    }
}

/// A key, borrowed from the body when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Key;
        impl<'de> Visitor<'de> for Key {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Key)
    }
}

/// One value of a row.
enum Field<'de> {
    /// `null`.
    Null,
    /// A string.
    Text(Cow<'de, str>),
    /// Any other value, as its JSON text.
    Json(String),
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Borrowed(text)))
    }
    fn visit_str<E>(self, text: &str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E>(self, text: String) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(text)))
    }
    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_none<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_bool<E>(self, value: bool) -> Result<Field<'de>, E> {
        Ok(Field::Json(value.to_string()))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Field<'de>, E> {
        Ok(Field::Json(value.to_string()))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Field<'de>, E> {
        Ok(Field::Json(value.to_string()))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Field<'de>, E> {
        Ok(Field::Json(Value::from(value).to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field<'de>, A::Error> {
        let value = Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok(Field::Json(value.to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Field<'de>, A::Error> {
        let value = Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(Field::Json(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array as _;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn rows_become_columns_whatever_their_key_order() {
        let body = br#"[
            {"a":"1","b":"x","w":"2024-01-01T00:00:00.000","extra":{"deep":[1,2]}},
            {"b":"y\"q","a":"2"},
            {"w":null,"a":null}
        ]"#;
        let mut rows = read(body, &names(&["a", "b"]), "w").expect("reads");
        let a = rows.columns[0].finish();
        let b = rows.columns[1].finish();
        let w = rows.watermarks.finish();
        assert_eq!(a.len(), 3);
        assert_eq!((a.value(0), a.value(1), a.is_null(2)), ("1", "2", true));
        assert_eq!((b.value(0), b.value(1), b.is_null(2)), ("x", "y\"q", true));
        assert_eq!(w.value(0), "2024-01-01T00:00:00.000");
        assert!(w.is_null(1) && w.is_null(2));
    }

    #[test]
    fn other_values_keep_their_json_text() {
        let body = br#"[{"n":42,"f":47.61,"t":true,"o":{"type":"Point","c":[-122.3,47.6]},"l":[1,"a"],"w":5}]"#;
        let mut rows = read(body, &names(&["n", "f", "t", "o", "l", "w"]), "w").expect("reads");
        let texts: Vec<String> = rows
            .columns
            .iter_mut()
            .map(|c| c.finish().value(0).to_owned())
            .collect();
        assert_eq!(
            texts,
            [
                "42",
                "47.61",
                "true",
                r#"{"type":"Point","c":[-122.3,47.6]}"#,
                r#"[1,"a"]"#,
                "5"
            ]
        );
        // A watermark that is not a string is no watermark.
        assert!(rows.watermarks.finish().is_null(0));
    }

    #[test]
    fn malformed_pages_fail_with_line_and_column() {
        for (body, line, column) in [
            (&b"[{\"a\":\"1\"},\n{oops"[..], 2, 2),
            (b"[{\"a\":\"1\"},\n\"text\"]", 2, 6),
            (b"{\"a\":\"1\"}", 1, 0),
            (b"[] trailing", 1, 4),
        ] {
            let error = match read(body, &names(&["a"]), "w") {
                Ok(_) => panic!("{} reads", String::from_utf8_lossy(body)),
                Err(e) => e,
            };
            assert_eq!(
                (error.line(), error.column()),
                (line, column),
                "{}: {error}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
