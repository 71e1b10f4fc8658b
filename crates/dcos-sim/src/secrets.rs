//! A simulated DC/OS secret store (Enterprise's Secrets API, the `default`
//! store only), served under Admin Router's authentication like the rest.
//!
//! # What is emulated
//!
//! * `PUT /secrets/v1/secret/default/{path}` with `{"value": "…"}` creates
//!   a secret: 201, or 409 when one exists at that path.
//! * `PATCH` with the same body replaces the value of an existing secret:
//!   204, or 404.
//! * `GET` answers `{"value": "…"}` (404 when missing); with `?list=true`
//!   it lists the secrets below the path instead: `{"array": [relative
//!   paths]}` (the store's root is `…/default/?list=true`).
//! * `DELETE` removes a secret: 204, or 404.
//!
//! Paths may contain `/`; a leading `/` is dropped (Metronome's
//! `run.secrets.*.source` is often written `/name`). Each segment is
//! `[A-Za-z0-9._-]`, neither `.` nor `..`. Only string values are held:
//! binary secrets (`Content-Type: application/octet-stream`) are refused
//! with 415, and error bodies are the sim's own `{"message": …}`.
//!
//! Bounded: at most [`MAX_SECRETS`] secrets of at most [`MAX_VALUE_BYTES`]
//! each, paths of at most [`MAX_PATH_BYTES`]. A value never appears in a
//! log, an error or a `Debug` output.
//!
//! Job runs that execute ([`crate::exec`]) resolve their secret
//! environment variables here when they start.

use crate::http::{json, message};
use crate::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;

/// At most this many secrets per sim.
pub const MAX_SECRETS: usize = 10_000;

/// The largest value a secret may hold, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// The longest secret path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// The only store the sim has.
const STORE: &str = "default";

/// Why the store refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The path is empty, too long, or has a segment that is not allowed.
    #[error("invalid secret path '{path}': {why}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The value is larger than [`MAX_VALUE_BYTES`].
    #[error("the value of secret '{path}' has {len} bytes, more than the {max} allowed", max = MAX_VALUE_BYTES)]
    TooLarge {
        /// The secret's path.
        path: String,
        /// The value's size in bytes.
        len: usize,
    },
    /// The store already holds [`MAX_SECRETS`] secrets.
    #[error("the store already holds {max} secrets", max = MAX_SECRETS)]
    Full,
    /// A create met an existing secret.
    #[error("secret '{0}' already exists")]
    Exists(String),
    /// An update or delete met no secret.
    #[error("secret '{0}' does not exist")]
    NotFound(String),
}

/// The secrets by normalised path. `Debug` shows the paths only.
#[derive(Default)]
pub(crate) struct SecretStore {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("paths", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `path` without a leading `/`, checked; the key the store uses.
pub(crate) fn normalize_path(path: &str) -> Result<String, SecretError> {
    let invalid = |why| SecretError::InvalidPath {
        path: path.to_owned(),
        why,
    };
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    if trimmed.len() > MAX_PATH_BYTES {
        return Err(invalid("it is longer than 1024 bytes"));
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() {
            return Err(invalid("it has an empty segment"));
        }
        if segment == "." || segment == ".." {
            return Err(invalid("'.' and '..' are not segments of a secret path"));
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(invalid(
                "a segment may hold only letters, digits, '.', '_' and '-'",
            ));
        }
    }
    Ok(trimmed.to_owned())
}

impl SecretStore {
    fn check_value(path: &str, value: &str) -> Result<(), SecretError> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(SecretError::TooLarge {
                path: path.to_owned(),
                len: value.len(),
            });
        }
        Ok(())
    }

    /// Creates a secret; an existing one is [`SecretError::Exists`].
    pub(crate) fn create(&mut self, path: &str, value: &str) -> Result<(), SecretError> {
        let key = normalize_path(path)?;
        Self::check_value(&key, value)?;
        if self.values.contains_key(&key) {
            return Err(SecretError::Exists(key));
        }
        if self.values.len() >= MAX_SECRETS {
            return Err(SecretError::Full);
        }
        self.values.insert(key, value.to_owned());
        Ok(())
    }

    /// Replaces an existing secret's value.
    pub(crate) fn update(&mut self, path: &str, value: &str) -> Result<(), SecretError> {
        let key = normalize_path(path)?;
        Self::check_value(&key, value)?;
        match self.values.get_mut(&key) {
            Some(slot) => {
                *slot = value.to_owned();
                Ok(())
            }
            None => Err(SecretError::NotFound(key)),
        }
    }

    /// Creates or replaces a secret (what a test's set-up wants).
    pub(crate) fn put(&mut self, path: &str, value: &str) -> Result<(), SecretError> {
        match self.update(path, value) {
            Err(SecretError::NotFound(_)) => self.create(path, value),
            other => other,
        }
    }

    /// The value at `path`, if any (an invalid path holds none).
    pub(crate) fn get(&self, path: &str) -> Option<&str> {
        let key = normalize_path(path).ok()?;
        self.values.get(&key).map(String::as_str)
    }

    /// Removes a secret.
    pub(crate) fn delete(&mut self, path: &str) -> Result<(), SecretError> {
        let key = normalize_path(path)?;
        self.values
            .remove(&key)
            .map(drop)
            .ok_or(SecretError::NotFound(key))
    }

    /// The paths below `prefix` (every path for an empty prefix), relative
    /// to it, sorted.
    fn list(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.trim_matches('/');
        self.values
            .keys()
            .filter_map(|key| {
                if prefix.is_empty() {
                    Some(key.clone())
                } else {
                    key.strip_prefix(prefix)
                        .and_then(|rest| rest.strip_prefix('/'))
                        .map(str::to_owned)
                }
            })
            .collect()
    }
}

/// The HTTP status a refusal answers with.
fn refusal(error: &SecretError) -> Response {
    let status = match error {
        SecretError::InvalidPath { .. } | SecretError::TooLarge { .. } | SecretError::Full => {
            StatusCode::BAD_REQUEST
        }
        SecretError::Exists(_) => StatusCode::CONFLICT,
        SecretError::NotFound(_) => StatusCode::NOT_FOUND,
    };
    message(status, error.to_string())
}

fn unknown_store(store: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        format!("dcos-sim: no secret store '{store}' (only 'default' is simulated)"),
    )
}

/// The `value` of a `{"value": "…"}` body, or the answer refusing it.
fn body_value(headers: &HeaderMap, body: &Bytes) -> Result<String, Box<Response>> {
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    if binary {
        return Err(Box::new(message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "dcos-sim: binary secrets are not emulated; send {\"value\": \"...\"} as JSON",
        )));
    }
    let bad = |text: &str| Box::new(message(StatusCode::BAD_REQUEST, text.to_owned()));
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|_| bad("the body must be a JSON object {\"value\": \"...\"}"))?;
    match parsed.get("value") {
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) => Err(bad("'value' must be a string")),
        None => Err(bad("the body must hold a string 'value'")),
    }
}

fn wants_list(query: Option<&str>) -> bool {
    query.unwrap_or_default().split('&').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(k, v)| k == "list" && v.eq_ignore_ascii_case("true"))
    })
}

async fn get_secret(
    State(sim): State<Shared>,
    Path((store, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if store != STORE {
        return unknown_store(&store);
    }
    let cluster = sim.cluster();
    if wants_list(query.as_deref()) {
        return json(
            StatusCode::OK,
            json!({"array": cluster.secrets.list(&path)}),
        );
    }
    if let Err(error) = normalize_path(&path) {
        return refusal(&error);
    }
    match cluster.secrets.get(&path) {
        Some(value) => json(StatusCode::OK, json!({"value": value})),
        None => refusal(&SecretError::NotFound(
            path.trim_start_matches('/').to_owned(),
        )),
    }
}

async fn list_root(
    State(sim): State<Shared>,
    Path(store): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if store != STORE {
        return unknown_store(&store);
    }
    if !wants_list(query.as_deref()) {
        return message(
            StatusCode::BAD_REQUEST,
            "a secret path is needed (or ?list=true to list the store)",
        );
    }
    let cluster = sim.cluster();
    json(StatusCode::OK, json!({"array": cluster.secrets.list("")}))
}

async fn put_secret(
    State(sim): State<Shared>,
    Path((store, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write_secret(&sim, &store, &path, &headers, &body, Write::Create)
}

async fn patch_secret(
    State(sim): State<Shared>,
    Path((store, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write_secret(&sim, &store, &path, &headers, &body, Write::Update)
}

/// What a write does: `PUT` creates (201), `PATCH` updates (204).
enum Write {
    Create,
    Update,
}

fn write_secret(
    sim: &Shared,
    store: &str,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    write: Write,
) -> Response {
    if store != STORE {
        return unknown_store(store);
    }
    let value = match body_value(headers, body) {
        Ok(value) => value,
        Err(response) => return *response,
    };
    let mut cluster = sim.cluster();
    let (result, done) = match write {
        Write::Create => (cluster.secrets.create(path, &value), StatusCode::CREATED),
        Write::Update => (cluster.secrets.update(path, &value), StatusCode::NO_CONTENT),
    };
    match result {
        Ok(()) => done.into_response(),
        Err(error) => refusal(&error),
    }
}

async fn delete_secret(
    State(sim): State<Shared>,
    Path((store, path)): Path<(String, String)>,
) -> Response {
    if store != STORE {
        return unknown_store(&store);
    }
    match sim.cluster().secrets.delete(&path) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refusal(&error),
    }
}

/// The Secrets API routes (`/secrets/v1/secret/...`).
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/secrets/v1/secret/{store}/", get(list_root))
        .route(
            "/secrets/v1/secret/{store}/{*path}",
            get(get_secret)
                .put(put_secret)
                .patch(patch_secret)
                .delete(delete_secret),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_and_normalised() {
        assert_eq!(normalize_path("/a/b-1/c_d.e").unwrap(), "a/b-1/c_d.e");
        for bad in ["", "/", "a//b", "a/../b", "./a", "a b", "a/", "ä"] {
            assert!(normalize_path(bad).is_err(), "{bad}");
        }
        assert!(normalize_path(&"a".repeat(MAX_PATH_BYTES + 1)).is_err());
    }

    #[test]
    fn create_update_delete_and_list() {
        let mut store = SecretStore::default();
        store.create("team/db", "one").unwrap();
        assert_eq!(
            store.create("/team/db", "two"),
            Err(SecretError::Exists("team/db".into()))
        );
        store.update("team/db", "two").unwrap();
        assert_eq!(store.get("/team/db"), Some("two"));
        assert_eq!(
            store.update("team/other", "x"),
            Err(SecretError::NotFound("team/other".into()))
        );
        store.put("team/other", "x").unwrap();
        store.put("top", "y").unwrap();
        assert_eq!(store.list("team"), ["db", "other"]);
        assert_eq!(store.list(""), ["team/db", "team/other", "top"]);
        store.delete("team/db").unwrap();
        assert_eq!(store.get("team/db"), None);
        assert!(store.delete("team/db").is_err());
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(
            store.create("big", &big),
            Err(SecretError::TooLarge { .. })
        ));
    }

    #[test]
    fn debug_never_shows_values() {
        let mut store = SecretStore::default();
        store.create("db", "hunter2-very-secret").unwrap();
        let shown = format!("{store:?}");
        assert!(shown.contains("db"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
