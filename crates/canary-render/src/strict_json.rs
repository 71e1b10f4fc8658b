//! Parsing rendered JSON strictly: an object that names a key twice is an
//! error naming the key and where the object is, instead of the last value
//! silently winning (Marathon and Metronome would each read one of them).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// Where a value is, for the duplicate's JSON pointer: a linked list from
/// the value up to the document, built only as deep as the parse goes.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    /// The JSON pointer (RFC 6901) of the value.
    fn pointer(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Key(parent, key) => format!(
                "{}/{}",
                parent.pointer(),
                key.replace('~', "~0").replace('/', "~1")
            ),
            Path::Index(parent, index) => format!("{}/{index}", parent.pointer()),
        }
    }
}

/// A key given twice in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    /// The key.
    pub key: String,
    /// The JSON pointer of the object that holds it (`""`: the document).
    pub object: String,
}

/// What [`parse`] found wrong.
pub(crate) enum StrictError {
    /// Not JSON at all: serde_json's own error (line, column).
    Syntax(serde_json::Error),
    /// Valid JSON syntax, but an object names a key twice.
    Duplicate(Duplicate),
}

struct Seed<'a> {
    path: Path<'a>,
    found: &'a RefCell<Option<Duplicate>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json only hands out finite numbers.
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = Path::Index(&self.path, items.len());
            let seed = Seed {
                path,
                found: self.found,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let duplicate = Duplicate {
                    object: self.path.pointer(),
                    key,
                };
                *self.found.borrow_mut() = Some(duplicate);
                return Err(de::Error::custom("duplicate key"));
            }
            let path = Path::Key(&self.path, &key);
            let value = map.next_value_seed(Seed {
                path,
                found: self.found,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Parses `text` as one JSON document (serde_json's grammar and nesting
/// limit), refusing an object that names a key twice.
pub(crate) fn parse(text: &str) -> Result<Value, StrictError> {
    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Seed {
        path: Path::Root,
        found: &found,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, found.into_inner()) {
        (_, Some(duplicate)) => Err(StrictError::Duplicate(duplicate)),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(StrictError::Syntax(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn duplicate(text: &str) -> Duplicate {
        match parse(text) {
            Err(StrictError::Duplicate(d)) => d,
            Err(StrictError::Syntax(e)) => panic!("{text}: syntax error {e}"),
            Ok(v) => panic!("{text}: parsed as {v}"),
        }
    }

    #[test]
    fn parses_what_serde_json_parses() {
        let text = r#"{"a": [1, -2, 3.5, true, null, "x", {"b": {}}], "c~/d": "\u00e9"}"#;
        assert_eq!(
            parse(text).ok(),
            Some(serde_json::from_str::<Value>(text).unwrap())
        );
        assert_eq!(parse("[]").ok(), Some(json!([])));
        assert!(matches!(parse("{} x"), Err(StrictError::Syntax(_))));
        assert!(matches!(parse("{\"a\": }"), Err(StrictError::Syntax(_))));
        let deep = "[".repeat(10_000);
        assert!(
            matches!(parse(&deep), Err(StrictError::Syntax(_))),
            "nesting is bounded"
        );
    }

    #[test]
    fn a_duplicate_key_is_named_with_its_object() {
        let d = duplicate(r#"{"id": "/a", "id": "/b"}"#);
        assert_eq!((d.key.as_str(), d.object.as_str()), ("id", ""));
        let d = duplicate(r#"{"container": {"docker": {"image": "a", "x": 1, "image": "b"}}}"#);
        assert_eq!(
            (d.key.as_str(), d.object.as_str()),
            ("image", "/container/docker")
        );
        let d = duplicate(r#"{"l": [{}, {"a/b": {"k": 1, "k": 2}}]}"#);
        assert_eq!((d.key.as_str(), d.object.as_str()), ("k", "/l/1/a~1b"));
    }
}
