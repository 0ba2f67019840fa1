//! The remote commands: `push URL [SESSION…]`, `pull URL [SESSION…]`, and `--remote URL` for
//! `sessions`, `ensure`, `verify`, `cleanup` and `gc` (docs/CLI.md, docs/REMOTE.md).

use anyhow::bail;
use cfgvault::remote::{self, Remote};
use cfgvault::{Options, RetentionPolicy, SessionId, Vault};
use clap::Args;
use serde_json::json;

use crate::args::{Cli, Command};
use crate::output::{Out, human_size, table};
use crate::run::{parse_age, session_id, store_path};
use crate::{EXIT_OK, EXIT_PROBLEMS};

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The remote: s3://BUCKET/PREFIX or file:///PATH
    pub url: String,
    /// Sessions to transfer (default: all)
    pub sessions: Vec<String>,
}

fn ids(sessions: &[String]) -> anyhow::Result<Vec<SessionId>> {
    sessions.iter().map(|s| session_id(s)).collect()
}

fn strs(ids: &[SessionId]) -> Vec<&str> {
    ids.iter().map(SessionId::as_str).collect()
}

pub fn push(cli: &Cli, out: &Out, a: &TransferArgs) -> anyhow::Result<u8> {
    let ids = ids(&a.sessions)?;
    let vault = Vault::open(store_path(cli), &Options::default())?;
    let remote = Remote::open(&a.url).map_err(cfgvault::Error::from)?;
    let r = vault.push(&remote, &ids)?;
    let doc = json!({
        "remote": a.url,
        "pushed": strs(&r.pushed),
        "unchanged": strs(&r.unchanged),
        "objects_uploaded": r.objects_uploaded,
        "bytes_uploaded": r.bytes_uploaded,
    });
    out.emit("push", doc, || {
        format!(
            "pushed {} session(s), {} already there; {} objects, {} uploaded\n",
            r.pushed.len(),
            r.unchanged.len(),
            r.objects_uploaded,
            human_size(r.bytes_uploaded)
        )
    })?;
    Ok(EXIT_OK)
}

pub fn pull(cli: &Cli, out: &Out, a: &TransferArgs) -> anyhow::Result<u8> {
    let ids = ids(&a.sessions)?;
    let vault = Vault::open_or_create(store_path(cli), &Options::default())?;
    let remote = Remote::open(&a.url).map_err(cfgvault::Error::from)?;
    let r = vault.pull(&remote, &ids)?;
    let doc = json!({
        "remote": a.url,
        "pulled": strs(&r.pulled),
        "unchanged": strs(&r.unchanged),
        "objects_downloaded": r.objects_downloaded,
        "bytes_downloaded": r.bytes_downloaded,
    });
    out.emit("pull", doc, || {
        format!(
            "pulled {} session(s), {} already here; {} objects, {} downloaded\n",
            r.pulled.len(),
            r.unchanged.len(),
            r.objects_downloaded,
            human_size(r.bytes_downloaded)
        )
    })?;
    Ok(EXIT_OK)
}

/// Runs `cli.command` against the remote `url`. `Ok(None)` when the command goes on
/// locally: `ensure` first pulls the session if the local store lacks it.
pub fn with_remote(cli: &Cli, out: &Out, url: &str) -> anyhow::Result<Option<u8>> {
    let remote = Remote::open(url).map_err(cfgvault::Error::from)?;
    match &cli.command {
        Command::Sessions(a) => {
            if a.label.is_some() {
                bail!("--label does not apply with --remote");
            }
            let mut list = remote.sessions().map_err(cfgvault::Error::from)?;
            if let Some(n) = a.limit {
                list.truncate(n);
            }
            let doc = json!({
                "remote": url,
                "sessions": list.iter().map(|r| json!({
                    "id": r.id.as_str(),
                    "created_at": r.created_at,
                    "workflow": r.workflow,
                    "strategy": r.strategy,
                    "labels": r.labels,
                    "files": r.files,
                    "logical_bytes": r.logical_bytes,
                })).collect::<Vec<_>>(),
            });
            out.emit("sessions", doc, || {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                            r.workflow.clone().unwrap_or_else(|| "-".into()),
                            r.files.to_string(),
                            human_size(r.logical_bytes),
                        ]
                    })
                    .collect();
                table(
                    &["SESSION", "CREATED (UTC)", "WORKFLOW", "FILES", "SIZE"],
                    &rows,
                )
            })?;
            Ok(Some(EXIT_OK))
        }
        Command::Ensure(a) => {
            let id = session_id(&a.session)?;
            let vault = Vault::open_or_create(store_path(cli), &Options::default())?;
            if vault.session(&id).is_err() {
                vault.pull(&remote, std::slice::from_ref(&id))?;
            }
            Ok(None)
        }
        Command::Verify { repair } => {
            if *repair {
                bail!("--repair does not apply with --remote: remote objects are never rewritten");
            }
            let r = remote::verify(&remote)?;
            let doc = json!({
                "remote": url,
                "ok": r.ok(),
                "sessions_checked": r.sessions_checked,
                "packs_checked": r.packs_checked,
                "blobs_checked": r.blobs_checked,
                "problems": r.problems.iter().map(|p| json!({"object": p.object, "detail": p.detail})).collect::<Vec<_>>(),
            });
            out.emit("verify", doc, || {
                let mut s = String::new();
                for p in &r.problems {
                    s.push_str(&format!("{}: {}\n", p.object, p.detail));
                }
                s.push_str(&format!(
                    "{} session(s), {} pack(s), {} blob(s) checked: {}\n",
                    r.sessions_checked,
                    r.packs_checked,
                    r.blobs_checked,
                    if r.ok() { "ok" } else { "PROBLEMS" }
                ));
                s
            })?;
            Ok(Some(if r.ok() { EXIT_OK } else { EXIT_PROBLEMS }))
        }
        Command::Cleanup(a) => {
            if a.dry_run {
                bail!("--dry-run does not apply with --remote");
            }
            let mut policy = RetentionPolicy::new();
            policy.older_than = a.older_than.as_deref().map(parse_age).transpose()?;
            policy.keep_last = a.keep_last;
            policy.keep_daily = a.keep_daily;
            policy.keep_weekly = a.keep_weekly;
            if policy == RetentionPolicy::new() {
                bail!(
                    "give at least one of --older-than, --keep-last, --keep-daily, --keep-weekly"
                );
            }
            let r = remote::cleanup(&remote, &policy, chrono::Utc::now())?;
            let doc = json!({
                "remote": url,
                "remove": strs(&r.removed),
                "keep": strs(&r.kept),
            });
            out.emit("cleanup", doc, || {
                let mut s = String::new();
                for id in &r.removed {
                    s.push_str(&format!("removed {id}\n"));
                }
                s.push_str(&format!(
                    "removed {} session(s), keeping {}; run `cfgvault gc --remote` to delete their packs\n",
                    r.removed.len(),
                    r.kept.len()
                ));
                s
            })?;
            Ok(Some(EXIT_OK))
        }
        Command::Gc => {
            let r = remote::gc(&remote)?;
            let doc = json!({
                "remote": url,
                "packs_deleted": r.packs_deleted,
                "bytes_deleted": r.bytes_deleted,
                "packs_condemned": r.packs_condemned,
                "indexes_merged": r.indexes_merged,
            });
            out.emit("gc", doc, || {
                format!(
                    "deleted {} pack(s) ({}); condemned {} more (deleted by a gc after {} s); merged {} index object(s)\n",
                    r.packs_deleted,
                    human_size(r.bytes_deleted),
                    r.packs_condemned,
                    remote.grace().as_secs(),
                    r.indexes_merged
                )
            })?;
            Ok(Some(EXIT_OK))
        }
        other => bail!("--remote does not apply to '{}'", other.name()),
    }
}
