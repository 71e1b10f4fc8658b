//! The label selector of `GET /v2/apps?label=`, parsed and applied as
//! Marathon does (its `LabelSelectorParsers`, read from Marathon's source):
//!
//! * a *term* is one or more of `[-A-Za-z0-9_.]` or a backslash followed by
//!   any character (`\ `, `\,`, `\/`, `\=`, `\\`); the backslashes are then
//!   removed, so `a\/b` is the text `a/b`. Anything else must be escaped;
//! * whitespace between tokens is ignored;
//! * selectors are `key` (the label exists), `key==value`, `key!=value`,
//!   `key in (v1, v2)` and `key notin (v1, v2)` (a set may be empty), joined
//!   by `,` (all must hold); an empty selector selects every app;
//! * **every** selector first requires the label to exist (Marathon:
//!   `labels.contains(key) && fn(value)`), so `key!=v` and `key notin (…)`
//!   never select an app without `key`;
//! * a selector that does not parse is an error: Marathon throws
//!   `IllegalArgumentException("Can not parse label selector <text>. Reason:
//!   <parser message>")`. The reason here is our own wording of where the
//!   parse stopped, in the shape of Scala's parser messages.

use std::collections::BTreeMap;

/// How one selector judges the value of its label.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    Exists,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
}

/// One parsed selector: a label key and what its value must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    key: String,
    test: Test,
}

/// A selector that does not parse, with Marathon's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Can not parse label selector {text}. Reason: {reason}")]
pub(crate) struct SelectorError {
    text: String,
    reason: String,
}

/// The regex Marathon's terms match, for the error messages.
const TERM_PATTERN: &str = r"(\\.|[-A-Za-z0-9_.])+";

/// A backtracking parser over the selector's characters, remembering the
/// furthest point any alternative reached (what Scala's parsers report).
struct Parser<'a> {
    chars: Vec<char>,
    furthest: (usize, &'a str),
}

impl<'a> Parser<'a> {
    fn skip_space(&self, mut at: usize) -> usize {
        while self.chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        at
    }

    fn fail<T>(&mut self, at: usize, expected: &'a str) -> Option<T> {
        if at >= self.furthest.0 {
            self.furthest = (at, expected);
        }
        None
    }

    /// A term, unescaped, and where it ends.
    fn term(&mut self, at: usize) -> Option<(String, usize)> {
        let start = self.skip_space(at);
        let (mut text, mut i) = (String::new(), start);
        loop {
            match self.chars.get(i) {
                Some('\\') if self.chars.get(i + 1).is_some_and(|c| *c != '\n') => {
                    text.push(self.chars[i + 1]);
                    i += 2;
                }
                Some(c) if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => {
                    text.push(*c);
                    i += 1;
                }
                _ => break,
            }
        }
        if i == start {
            return self.fail(start, "term");
        }
        Some((text, i))
    }

    /// A literal token, after whitespace.
    fn literal(&mut self, at: usize, token: &'a str) -> Option<usize> {
        let start = self.skip_space(at);
        let found = token
            .chars()
            .enumerate()
            .all(|(k, c)| self.chars.get(start + k) == Some(&c));
        if found {
            Some(start + token.chars().count())
        } else {
            self.fail(start, token)
        }
    }

    /// `( term {, term} )`, possibly empty.
    fn set(&mut self, at: usize) -> Option<(Vec<String>, usize)> {
        let mut at = self.literal(at, "(")?;
        let mut values = Vec::new();
        if let Some((first, next)) = self.term(at) {
            values.push(first);
            at = next;
            while let Some(comma) = self.literal(at, ",") {
                let (value, next) = self.term(comma)?;
                values.push(value);
                at = next;
            }
        }
        let at = self.literal(at, ")")?;
        Some((values, at))
    }

    /// `key in|notin set`.
    fn set_selector(&mut self, at: usize) -> Option<(Selector, usize)> {
        let (key, at) = self.term(at)?;
        // Marathon's `(in|notin)`: `in` is tried first.
        let (negated, at) = match self.literal(at, "in") {
            Some(next) => (false, next),
            None => (true, self.literal(at, "notin")?),
        };
        let (values, at) = self.set(at)?;
        let test = if negated {
            Test::NotIn(values)
        } else {
            Test::In(values)
        };
        Some((Selector { key, test }, at))
    }

    /// `key==value` or `key!=value`.
    fn equality_selector(&mut self, at: usize) -> Option<(Selector, usize)> {
        let (key, at) = self.term(at)?;
        let (equal, at) = match self.literal(at, "==") {
            Some(next) => (true, next),
            None => (false, self.literal(at, "!=")?),
        };
        let (value, at) = self.term(at)?;
        let test = if equal {
            Test::Equals(value)
        } else {
            Test::NotEquals(value)
        };
        Some((Selector { key, test }, at))
    }

    /// One selector: the set form, else the equality form, else existence.
    fn selector(&mut self, at: usize) -> Option<(Selector, usize)> {
        if let Some(found) = self.set_selector(at) {
            return Some(found);
        }
        if let Some(found) = self.equality_selector(at) {
            return Some(found);
        }
        let (key, at) = self.term(at)?;
        let test = Test::Exists;
        Some((Selector { key, test }, at))
    }

    /// What the furthest failure met, in Scala's words.
    fn found(&self) -> String {
        match self.chars.get(self.furthest.0) {
            Some(c) => format!("'{c}' found"),
            None => "end of source found".into(),
        }
    }
}

/// Parses a label selector as Marathon does.
pub(crate) fn parse(text: &str) -> Result<Vec<Selector>, SelectorError> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        furthest: (0, "term"),
    };
    let mut selectors = Vec::new();
    let mut at = 0;
    if let Some((first, next)) = parser.selector(at) {
        selectors.push(first);
        at = next;
        // repsep: a trailing `,` without a selector leaves the input
        // unparsed.
        while let Some((more, next)) = parser
            .literal(at, ",")
            .and_then(|comma| parser.selector(comma))
        {
            selectors.push(more);
            at = next;
        }
    }
    let end = parser.skip_space(at);
    if end == parser.chars.len() {
        return Ok(selectors);
    }
    let expected = match parser.furthest.1 {
        "term" => format!("string matching regex '{TERM_PATTERN}'"),
        token => format!("'{token}'"),
    };
    Err(SelectorError {
        text: text.to_owned(),
        reason: format!("{expected} expected but {}", parser.found()),
    })
}

/// Whether labels `labels` satisfy every selector.
pub(crate) fn matches(selectors: &[Selector], labels: &BTreeMap<String, String>) -> bool {
    selectors.iter().all(|s| {
        let Some(value) = labels.get(&s.key) else {
            return false;
        };
        match &s.test {
            Test::Exists => true,
            Test::Equals(v) => value == v,
            Test::NotEquals(v) => value != v,
            Test::In(set) => set.contains(value),
            Test::NotIn(set) => !set.contains(value),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn selects(selector: &str, pairs: &[(&str, &str)]) -> bool {
        matches(&parse(selector).expect("parses"), &labels(pairs))
    }

    #[test]
    fn forms_and_whitespace() {
        assert!(selects("a", &[("a", "")]));
        assert!(selects("  a == x ", &[("a", "x")]));
        assert!(selects("a!=x", &[("a", "y")]));
        assert!(selects("a in ( x , y )", &[("a", "y")]));
        assert!(selects("a in(x)", &[("a", "x")]));
        assert!(selects("a notin (x,y)", &[("a", "z")]));
        assert!(!selects("a in ()", &[("a", "z")]));
        assert!(selects("a notin ()", &[("a", "z")]));
        assert!(selects("a==x, b", &[("a", "x"), ("b", "1")]));
        assert!(!selects("a==x, b", &[("a", "x")]));
        assert!(selects("", &[]));
    }

    #[test]
    fn every_selector_needs_the_label() {
        assert!(!selects("a!=x", &[]));
        assert!(!selects("a notin (x)", &[("b", "y")]));
        assert!(!selects("a==x", &[]));
    }

    #[test]
    fn escapes_are_removed_and_other_characters_refused() {
        assert!(selects(r"g==a\/b", &[("g", "a/b")]));
        assert!(selects(r"g==a\ b\,c\=d\\e", &[("g", r"a b,c=d\e")]));
        assert!(selects(r"my\ key==v", &[("my key", "v")]));
        for bad in [
            "g==a/b", "g==a b", "g==", "==x", "a,", "a in (x", "a=x", "g==x:y",
        ] {
            let error = parse(bad).expect_err(bad);
            let text = error.to_string();
            assert!(
                text.starts_with(&format!("Can not parse label selector {bad}. Reason: ")),
                "{text}"
            );
            assert!(text.contains(" expected but "), "{text}");
        }
    }
}
