//! Marathon's query strings: decoding, boolean flags, `embed` and the label
//! selector of `GET /v2/apps?label=`.

use super::{App, Embed};

/// Decoded query parameters, in order.
pub(super) struct Query(Vec<(String, String)>);

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub(super) fn parse(raw: Option<String>) -> Query {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Query(pairs)
    }

    pub(super) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn first<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.all(key).next()
    }

    /// A boolean parameter (`true`/`True`/`TRUE`; a bare `?force` is true).
    pub(super) fn flag(&self, key: &str, default: bool) -> bool {
        match self.first(key) {
            None => default,
            Some("") => true,
            Some(v) => v.eq_ignore_ascii_case("true"),
        }
    }
}

pub(super) fn embed_of(query: &Query) -> Embed {
    let mut embed = Embed {
        counts: true,
        deployments: true,
        ..Embed::default()
    };
    for value in query.all("embed") {
        let suffix = ["group.apps.", "apps.", "app."]
            .iter()
            .find_map(|p| value.strip_prefix(p))
            .unwrap_or(value);
        match suffix {
            "tasks" => embed.tasks = true,
            "lastTaskFailure" => embed.last_task_failure = true,
            "failures" => {
                embed.tasks = true;
                embed.last_task_failure = true;
            }
            "readiness" => embed.readiness = true,
            _ => {}
        }
    }
    embed
}

/// One term of a label selector.
pub(super) enum Selector {
    Exists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// Splits on `sep` outside parentheses, honouring `\` escapes.
fn split_top(text: &str, sep: char) -> Vec<String> {
    let (mut parts, mut cur, mut depth, mut escaped) = (Vec::new(), String::new(), 0, false);
    for c in text.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            c if c == sep && depth == 0 => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

pub(super) fn parse_selector(text: &str) -> Vec<Selector> {
    split_top(text, ',')
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .map(|term| {
            let term = term.trim();
            let set = |rest: &str| -> Vec<String> {
                let inner = rest.trim().trim_start_matches('(').trim_end_matches(')');
                inner.split(',').map(|s| s.trim().to_owned()).collect()
            };
            if let Some((k, v)) = term.split_once("!=") {
                Selector::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                Selector::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = term.split_once(" notin ") {
                Selector::NotIn(k.trim().into(), set(rest))
            } else if let Some((k, rest)) = term.split_once(" in ") {
                Selector::In(k.trim().into(), set(rest))
            } else {
                Selector::Exists(term.to_owned())
            }
        })
        .collect()
}

pub(super) fn selector_matches(selectors: &[Selector], app: &App) -> bool {
    selectors.iter().all(|s| match s {
        Selector::Exists(k) => app.labels.contains_key(k),
        Selector::Equals(k, v) => app.labels.get(k) == Some(v),
        Selector::NotEquals(k, v) => app.labels.get(k) != Some(v),
        Selector::In(k, vs) => app.labels.get(k).is_some_and(|l| vs.contains(l)),
        Selector::NotIn(k, vs) => app.labels.get(k).is_none_or(|l| !vs.contains(l)),
    })
}
