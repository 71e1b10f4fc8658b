//! Marathon's query strings: decoding, boolean flags and `embed` (the label
//! selector of `GET /v2/apps?label=` is in `selector`).

use super::Embed;

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
