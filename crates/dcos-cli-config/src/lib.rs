//! The dcos CLI's own configuration, so a user who ran `dcos cluster setup`
//! needs nothing else: the attached cluster's `core.dcos_url`,
//! `core.dcos_acs_token` and `core.ssl_verify` (apis.md §3.3). One reader
//! for both of canary's backends and the binary: the HTTP backend takes its
//! URL, token and TLS setting from it, and the dcos-cli backend its rule
//! that a stored token is never sent to another URL.
//!
//! Layout: `DCOS_DIR` (default `~/.dcos`) holds `clusters/<cluster-id>/dcos.toml`
//! per cluster; the current one has an empty `attached` file beside it, or is
//! the only one, or is named by `DCOS_CLUSTER` (its name or id). The CLI 0.4
//! layout, a single `DCOS_DIR/dcos.toml`, is read when there is no cluster
//! directory.

use bounded_read::{Limit, ReadError};
use std::fmt;
use std::path::{Path, PathBuf};

/// The largest `dcos.toml` read (the CLI writes a few hundred bytes).
pub const DCOS_TOML_LIMIT: Limit = Limit::kib(256);

/// Why the dcos CLI configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DcosConfigError {
    /// A file could not be read, is larger than [`DCOS_TOML_LIMIT`] or is
    /// not UTF-8.
    #[error("cannot read the dcos CLI configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: ReadError,
    },
    /// A file is not valid TOML (the message never quotes the file, which
    /// holds a token).
    #[error("the dcos CLI configuration {path} is not valid TOML: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, without the offending text.
        message: String,
    },
    /// `DCOS_CLUSTER` names no configured cluster.
    #[error("DCOS_CLUSTER={wanted} matches no configured cluster (configured: {})", available.join(", "))]
    UnknownCluster {
        /// The name or id asked for.
        wanted: String,
        /// The configured clusters, as `name (id)`.
        available: Vec<String>,
    },
    /// Several clusters are configured and none is attached.
    #[error("several dcos clusters are configured and none is attached ({}); run `dcos cluster attach NAME` or set DCOS_CLUSTER", clusters.join(", "))]
    NoneAttached {
        /// The configured clusters, as `name (id)`.
        clusters: Vec<String>,
    },
}

/// What `core.ssl_verify` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SslVerify {
    /// `"true"`: verify against the default roots.
    Verify,
    /// `"false"`: do not verify.
    DoNotVerify,
    /// A path: verify against the CA bundle (PEM) there.
    CaBundle(PathBuf),
}

/// What the dcos CLI configuration says about the current cluster.
#[derive(Clone)]
pub struct DcosCliConfig {
    /// The `dcos.toml` it came from.
    pub path: PathBuf,
    /// `core.dcos_url`.
    pub dcos_url: Option<String>,
    /// `core.ssl_verify`: `"true"`, `"false"` or a CA bundle path.
    pub ssl_verify: Option<String>,
    token: Option<String>,
}

impl fmt::Debug for DcosCliConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DcosCliConfig")
            .field("path", &self.path)
            .field("dcos_url", &self.dcos_url)
            .field("ssl_verify", &self.ssl_verify)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

struct Cluster {
    id: String,
    name: String,
    path: PathBuf,
    attached: bool,
}

fn read_toml(path: &Path) -> Result<toml::Table, DcosConfigError> {
    let text =
        bounded_read::read_text(path, DCOS_TOML_LIMIT).map_err(|source| DcosConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
    text.parse::<toml::Table>().map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        DcosConfigError::Parse {
            path: path.to_owned(),
            message: match line {
                Some(line) => format!("{} (line {line})", e.message()),
                None => e.message().to_owned(),
            },
        }
    })
}

fn string_at<'a>(table: &'a toml::Table, section: &str, key: &str) -> Option<&'a str> {
    table
        .get(section)?
        .get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
}

impl DcosCliConfig {
    /// The stored DC/OS token, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// What `core.ssl_verify` says about verifying the cluster's
    /// certificate, as the dcos CLI reads it: `"true"` (any case) verifies
    /// against the default roots, `"false"` not at all, anything else is the
    /// path of a CA bundle (PEM). `None` when it is not set. Like the token,
    /// it applies only to this configuration's `dcos_url`
    /// ([`DcosCliConfig::is_for`]).
    pub fn ssl_verify(&self) -> Option<SslVerify> {
        let value = self.ssl_verify.as_deref()?;
        Some(match value.trim() {
            v if v.eq_ignore_ascii_case("true") => SslVerify::Verify,
            v if v.eq_ignore_ascii_case("false") => SslVerify::DoNotVerify,
            path => SslVerify::CaBundle(PathBuf::from(path)),
        })
    }

    /// Whether `url` is this configuration's own `core.dcos_url` (trailing
    /// slashes aside): the only URL its token and TLS setting are for.
    pub fn is_for(&self, url: &str) -> bool {
        self.dcos_url
            .as_deref()
            .is_some_and(|own| own.trim_end_matches('/') == url.trim_end_matches('/'))
    }

    fn from_file(path: &Path) -> Result<Self, DcosConfigError> {
        let table = read_toml(path)?;
        Ok(DcosCliConfig {
            path: path.to_owned(),
            dcos_url: string_at(&table, "core", "dcos_url").map(str::to_owned),
            ssl_verify: string_at(&table, "core", "ssl_verify").map(str::to_owned),
            token: string_at(&table, "core", "dcos_acs_token").map(str::to_owned),
        })
    }

    /// Finds the current cluster's configuration under `dcos_dir`, choosing
    /// the cluster named `cluster` (a name or an id) when given. `Ok(None)`
    /// when nothing is configured there.
    pub fn discover(
        dcos_dir: &Path,
        cluster: Option<&str>,
    ) -> Result<Option<Self>, DcosConfigError> {
        let mut clusters = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dcos_dir.join("clusters")) {
            for entry in entries.flatten() {
                let path = entry.path().join("dcos.toml");
                if !path.is_file() {
                    continue;
                }
                let table = read_toml(&path)?;
                let id = entry.file_name().to_string_lossy().into_owned();
                clusters.push(Cluster {
                    name: string_at(&table, "cluster", "name")
                        .unwrap_or(&id)
                        .to_owned(),
                    attached: entry.path().join("attached").exists(),
                    id,
                    path,
                });
            }
        }
        clusters.sort_by(|a, b| a.id.cmp(&b.id));
        let describe = |all: &[Cluster]| {
            all.iter()
                .map(|c| format!("{} ({})", c.name, c.id))
                .collect::<Vec<_>>()
        };
        let chosen = match cluster {
            Some(wanted) => Some(
                clusters
                    .iter()
                    .find(|c| c.id == wanted || c.name == wanted)
                    .ok_or_else(|| DcosConfigError::UnknownCluster {
                        wanted: wanted.to_owned(),
                        available: describe(&clusters),
                    })?,
            ),
            None => match clusters.iter().find(|c| c.attached) {
                Some(attached) => Some(attached),
                None if clusters.len() == 1 => clusters.first(),
                None if clusters.is_empty() => None,
                None => {
                    return Err(DcosConfigError::NoneAttached {
                        clusters: describe(&clusters),
                    });
                }
            },
        };
        if let Some(cluster) = chosen {
            return Self::from_file(&cluster.path).map(Some);
        }
        let legacy = dcos_dir.join("dcos.toml");
        if legacy.is_file() {
            return Self::from_file(&legacy).map(Some);
        }
        Ok(None)
    }

    /// [`DcosCliConfig::discover`] where the dcos CLI looks: `DCOS_DIR`, else
    /// `~/.dcos`, with `DCOS_CLUSTER`.
    pub fn from_env() -> Result<Option<Self>, DcosConfigError> {
        let dir = match std::env::var_os("DCOS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".dcos"),
                None => return Ok(None),
            },
        };
        let cluster = std::env::var("DCOS_CLUSTER").ok().filter(|c| !c.is_empty());
        Self::discover(&dir, cluster.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, id: &str, name: &str, url: &str, attached: bool) {
        let cluster = dir.join("clusters").join(id);
        std::fs::create_dir_all(&cluster).unwrap();
        std::fs::write(
            cluster.join("dcos.toml"),
            format!("[core]\ndcos_url = \"{url}\"\nssl_verify = \"false\"\ndcos_acs_token = \"secret-{id}\"\n\n[cluster]\nname = \"{name}\"\n"),
        )
        .unwrap();
        if attached {
            std::fs::write(cluster.join("attached"), "").unwrap();
        }
    }

    fn tempdir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dcos-cli-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_attached_or_only_or_named_cluster_is_used() {
        let dir = tempdir("pick");
        assert!(DcosCliConfig::discover(&dir, None).unwrap().is_none());
        write(&dir, "aaaa", "prod", "http://prod.example", false);
        let only = DcosCliConfig::discover(&dir, None).unwrap().unwrap();
        assert_eq!(only.dcos_url.as_deref(), Some("http://prod.example"));
        assert_eq!(only.token(), Some("secret-aaaa"));
        assert_eq!(only.ssl_verify.as_deref(), Some("false"));

        write(&dir, "bbbb", "staging", "http://staging.example", false);
        let err = DcosCliConfig::discover(&dir, None).unwrap_err().to_string();
        assert!(
            err.contains("none is attached (prod (aaaa), staging (bbbb))"),
            "{err}"
        );
        write(&dir, "bbbb", "staging", "http://staging.example", true);
        let attached = DcosCliConfig::discover(&dir, None).unwrap().unwrap();
        assert_eq!(attached.dcos_url.as_deref(), Some("http://staging.example"));
        let named = DcosCliConfig::discover(&dir, Some("prod"))
            .unwrap()
            .unwrap();
        assert_eq!(named.dcos_url.as_deref(), Some("http://prod.example"));
        let by_id = DcosCliConfig::discover(&dir, Some("aaaa"))
            .unwrap()
            .unwrap();
        assert_eq!(by_id.token(), Some("secret-aaaa"));
        let err = DcosCliConfig::discover(&dir, Some("qa"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("DCOS_CLUSTER=qa matches no configured cluster"),
            "{err}"
        );
        assert!(
            !format!("{attached:?}").contains("secret"),
            "the token is redacted"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn ssl_verify_is_true_false_or_a_ca_bundle_path() {
        let with = |value: Option<&str>| DcosCliConfig {
            path: PathBuf::from("dcos.toml"),
            dcos_url: Some("https://dcos.example".into()),
            ssl_verify: value.map(str::to_owned),
            token: None,
        };
        assert_eq!(with(None).ssl_verify(), None);
        assert_eq!(with(Some("true")).ssl_verify(), Some(SslVerify::Verify));
        assert_eq!(with(Some("True")).ssl_verify(), Some(SslVerify::Verify));
        assert_eq!(
            with(Some("false")).ssl_verify(),
            Some(SslVerify::DoNotVerify)
        );
        assert_eq!(
            with(Some("FALSE")).ssl_verify(),
            Some(SslVerify::DoNotVerify)
        );
        assert_eq!(
            with(Some(" /etc/dcos-ca.crt ")).ssl_verify(),
            Some(SslVerify::CaBundle(PathBuf::from("/etc/dcos-ca.crt")))
        );
        assert!(with(None).is_for("https://dcos.example/"));
        assert!(!with(None).is_for("https://other.example"));
    }

    #[test]
    fn legacy_layout_and_bad_toml_without_quoting_the_file() {
        let dir = tempdir("legacy");
        std::fs::write(
            dir.join("dcos.toml"),
            "[core]\ndcos_url = \"http://old.example\"\n",
        )
        .unwrap();
        let legacy = DcosCliConfig::discover(&dir, None).unwrap().unwrap();
        assert_eq!(legacy.dcos_url.as_deref(), Some("http://old.example"));
        assert_eq!(legacy.token(), None);
        std::fs::write(
            dir.join("dcos.toml"),
            "[core]\ndcos_acs_token = \"topsecret\nx",
        )
        .unwrap();
        let err = DcosCliConfig::discover(&dir, None).unwrap_err().to_string();
        assert!(
            err.contains("is not valid TOML") && !err.contains("topsecret"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
