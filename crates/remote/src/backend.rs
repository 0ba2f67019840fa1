//! A blocking facade over `object_store`: create-if-absent puts, gets, one listing, deletes.
//! The only module that names the object-storage crate's client types; it drives them on a
//! private tokio runtime, so callers stay synchronous.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig};

use crate::error::{Error, Result};

/// One object as a listing shows it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// The name below the remote's prefix, e.g. `packs/3fa2…`.
    pub name: String,
    pub modified: DateTime<Utc>,
    pub size: u64,
}

/// What a create-if-absent put found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Created {
    Written,
    AlreadyThere,
}

pub(crate) struct Backend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

impl Backend {
    /// `s3://BUCKET[/PREFIX]` (endpoint, region and credentials from the `AWS_*` variables)
    /// or `file:///PATH` (created if missing). `settings` override the environment's, named
    /// as the variables are, lowercase (`aws_endpoint_url`, `aws_allow_http` …).
    pub fn open(url: &str, settings: &BTreeMap<String, String>) -> Result<Backend> {
        let invalid = |reason| Error::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let (store, prefix): (Arc<dyn ObjectStore>, String) = if let Some(rest) =
            url.strip_prefix("s3://")
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket"));
            }
            // A few quick retries: a push that cannot reach the server fails within
            // seconds and is simply run again (nothing half-done is ever visible).
            let retry = RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
                ..RetryConfig::default()
            };
            let mut builder = AmazonS3Builder::from_env();
            for (key, value) in settings {
                let key: AmazonS3ConfigKey = key.parse().map_err(|_| Error::InvalidUrl {
                    url: url.to_string(),
                    reason: "an S3 setting has an unknown name",
                })?;
                builder = builder.with_config(key, value);
            }
            let s3 = builder
                .with_bucket_name(bucket)
                .with_retry(retry)
                .build()
                .map_err(|source| Error::Backend {
                    op: "configuration",
                    object: url.to_string(),
                    source,
                })?;
            (Arc::new(s3), prefix.trim_matches('/').to_string())
        } else if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid("a file URL needs an absolute path (file:///PATH)"));
            }
            std::fs::create_dir_all(path).map_err(|source| Error::Backend {
                op: "creation",
                object: url.to_string(),
                source: object_store::Error::Generic {
                    store: "file",
                    source: Box::new(source),
                },
            })?;
            let fs = LocalFileSystem::new_with_prefix(path).map_err(|source| Error::Backend {
                op: "opening",
                object: url.to_string(),
                source,
            })?;
            (Arc::new(fs), String::new())
        } else {
            return Err(invalid("expected s3://BUCKET/PREFIX or file:///PATH"));
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Backend {
            store,
            prefix,
            runtime,
        })
    }

    fn path(&self, name: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{name}", self.prefix))
        }
    }

    fn name_of(&self, path: &Path) -> String {
        let s = path.as_ref();
        if self.prefix.is_empty() {
            s.to_string()
        } else {
            s.strip_prefix(&self.prefix)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(s)
                .to_string()
        }
    }

    /// Writes `bytes` under `name` unless an object of that name exists (S3 `If-None-Match:
    /// *`; a hard link on a file system), so nothing is ever overwritten.
    pub fn create(&self, name: &str, bytes: Vec<u8>) -> Result<Created> {
        let path = self.path(name);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let put =
            self.runtime
                .block_on(self.store.put_opts(&path, PutPayload::from(bytes), options));
        match put {
            Ok(_) => Ok(Created::Written),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Created::AlreadyThere),
            Err(source) => Err(Error::Backend {
                op: "put",
                object: name.to_string(),
                source,
            }),
        }
    }

    /// The object's bytes, or `None` if there is no such object.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name);
        let got = self.runtime.block_on(async {
            let r = self.store.get(&path).await?;
            r.bytes().await
        });
        match got {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(Error::Backend {
                op: "get",
                object: name.to_string(),
                source,
            }),
        }
    }

    /// Every object whose name starts with `dir/` (all of them for `None`).
    pub fn list(&self, dir: Option<&str>) -> Result<Vec<Listed>> {
        let prefix = match dir {
            Some(d) => Some(self.path(d)),
            None if self.prefix.is_empty() => None,
            None => Some(Path::from(self.prefix.as_str())),
        };
        let listed = self.runtime.block_on(
            self.store
                .list(prefix.as_ref())
                .map_ok(|meta| Listed {
                    name: self.name_of(&meta.location),
                    modified: meta.last_modified,
                    size: meta.size,
                })
                .try_collect::<Vec<_>>(),
        );
        listed.map_err(|source| Error::Backend {
            op: "listing",
            object: dir.unwrap_or("").to_string(),
            source,
        })
    }

    /// Removes the object; an object already gone is not an error.
    pub fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        match self.runtime.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(Error::Backend {
                op: "delete",
                object: name.to_string(),
                source,
            }),
        }
    }
}
