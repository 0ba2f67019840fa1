//! One function per command: parse flags into library options, call the library, print.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use cfgvault::closure::{self, Strategy};
use cfgvault::{
    BackupOptions, DiffScope as Scope, DiffSide as Side, EnsureOptions, EnsureStatus, ListOptions,
    ObjectId, Options, ProblemKind, RestoreAction, RestoreOptions, RetentionPolicy, SessionId,
    Vault, VerifyOptions,
};
use serde_json::{Value, json};

use crate::args::{Cli, Command};
use crate::error::invalid;
use crate::output::{Out, human_ratio, human_size, report, table};
use crate::progress::Reporter;
use crate::{EXIT_OK, EXIT_PROBLEMS};

/// `--store`, else `$CFGVAULT_STORE` (clap reads both), else the default path.
pub(crate) fn store_path(cli: &Cli) -> PathBuf {
    match &cli.store {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Vault::default_path(),
    }
}

fn open(cli: &Cli) -> anyhow::Result<Vault> {
    Ok(Vault::open(store_path(cli), &Options::default())?)
}

/// A session id argument checked for syntax (before any store is opened). The library's
/// error already names the (shortened) id and the reason.
pub(crate) fn session_id(s: &str) -> anyhow::Result<SessionId> {
    Ok(s.parse::<SessionId>().map_err(cfgvault::Error::from)?)
}

/// The stored session a session id argument names: itself, or the one session it is a
/// prefix of.
fn resolve(vault: &Vault, id: &SessionId) -> anyhow::Result<SessionId> {
    Ok(vault.resolve_session(id.as_str())?)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12)
}

pub fn run(cli: &Cli) -> anyhow::Result<u8> {
    let out = Out {
        json: cli.json,
        quiet: cli.quiet,
    };
    if let Some(url) = &cli.remote
        && let Some(code) = crate::remote::with_remote(cli, &out, url)?
    {
        return Ok(code);
    }
    match &cli.command {
        Command::Init => init(cli, &out),
        Command::Backup(a) => backup(cli, &out, a),
        Command::Sessions(a) => sessions(cli, &out, a),
        Command::Show { session } => show(cli, &out, session),
        Command::Restore(a) => restore_cmd(cli, &out, a),
        Command::Ensure(a) => ensure(cli, &out, a),
        Command::Log { path, follow } => log(cli, &out, path, *follow),
        Command::Diff(a) => diff(cli, &out, a),
        Command::Cat { spec } => cat(cli, spec),
        Command::Pin { sessions } => pin(cli, &out, "pin", sessions, true),
        Command::Unpin { sessions } => pin(cli, &out, "unpin", sessions, false),
        Command::Label { session, labels } => label(cli, &out, session, labels),
        Command::Rm { sessions } => rm(cli, &out, sessions),
        Command::Cleanup(a) => cleanup(cli, &out, a),
        Command::Gc => gc(cli, &out),
        Command::Verify { repair } => verify_cmd(cli, &out, *repair),
        Command::Stats => stats(cli, &out),
        Command::Deps(a) => deps(&out, a),
        Command::Completions { shell } => completions(*shell),
        Command::Man => man(),
        Command::Push(a) => crate::remote::push(cli, &out, a),
        Command::Pull(a) => crate::remote::pull(cli, &out, a),
    }
}

fn init(cli: &Cli, out: &Out) -> anyhow::Result<u8> {
    let path = store_path(cli);
    Vault::create(&path, &Options::default())?;
    let shown = path.display().to_string();
    out.emit("init", json!({ "store": shown }), || {
        format!("created store {shown}")
    })?;
    Ok(EXIT_OK)
}

fn parse_strategy(s: Option<&str>) -> anyhow::Result<Strategy> {
    let Some(s) = s else {
        return Ok(Strategy::default());
    };
    if let Ok(st) = s.parse::<Strategy>() {
        return Ok(st);
    }
    if Path::new(s).is_file() {
        return Ok(Strategy::load(s).map_err(cfgvault::Error::from)?);
    }
    invalid!(
        "unknown strategy '{s}' (expected minimal, standard, comprehensive, tree, or a strategy file)"
    )
}

fn closure_options(
    a: &crate::args::ClosureArgs,
    strategy: Strategy,
) -> anyhow::Result<closure::Options> {
    let mut o = closure::Options::default().strategy(strategy);
    for g in &a.exclude {
        o = o.exclude(g.clone());
    }
    if let Some(p) = &a.profile {
        o = o.profile(closure::Profile::load(p).map_err(cfgvault::Error::from)?);
    }
    Ok(o)
}

fn parse_label(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => invalid!("invalid label '{s}': expected KEY=VALUE"),
    }
}

fn backup(cli: &Cli, out: &Out, a: &crate::args::BackupArgs) -> anyhow::Result<u8> {
    let strategy = parse_strategy(a.closure.strategy.as_deref())?;
    let copts = closure_options(&a.closure, strategy.clone())?;
    let mut opts = BackupOptions::default();
    opts.strategy = strategy;
    opts.excludes = copts.excludes.clone();
    opts.profile = Some(copts.profile.clone());
    opts.session_id = a.session.as_deref().map(session_id).transpose()?;
    for l in &a.label {
        let (k, v) = parse_label(l)?;
        opts.labels.insert(k, v);
    }
    let vault = Vault::open_or_create(store_path(cli), &Options::default())?;
    let progress = Reporter::new(cli.json, cli.quiet);
    let r = vault.backup_with(
        &a.closure.root,
        a.closure.workflow.as_deref(),
        &opts,
        &progress,
    )?;
    drop(progress);
    out.emit_with(
        "backup",
        || report(&r),
        || {
            let mut s = format!(
                "session {}  ({} files, {}; {} new objects, {} stored)\n\n",
                r.session.id,
                r.files.len(),
                human_size(r.session.logical_bytes),
                r.new_objects,
                human_size(r.bytes_added)
            );
            let rows: Vec<Vec<String>> = r
                .files
                .iter()
                .map(|f| {
                    vec![
                        f.path.clone(),
                        f.kind.as_str().into(),
                        human_size(f.size),
                        short(&f.id),
                        if f.new { "new".into() } else { "stored".into() },
                    ]
                })
                .collect();
            s.push_str(&table(&["PATH", "KIND", "SIZE", "ID", "STATE"], &rows));
            push_unresolved(&mut s, &r.closure.unresolved);
            for w in r.session.closure.iter().flat_map(|c| &c.warnings) {
                s.push_str(&format!("warning: {w}\n"));
            }
            push_findings(&mut s, &r.closure);
            s
        },
    )?;
    // The session is stored either way; a workflow that does not parse cannot start one.
    Ok(if r.closure.workflow_error.is_some() {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    })
}

fn unresolved_json(u: &[closure::Unresolved]) -> Value {
    json!(
        u.iter()
            .map(|u| json!({"from": u.from, "key": u.key, "value": u.value, "reason": u.reason}))
            .collect::<Vec<_>>()
    )
}

fn push_unresolved(s: &mut String, u: &[closure::Unresolved]) {
    if u.is_empty() {
        return;
    }
    s.push_str(&format!("\nunresolved references ({}):\n", u.len()));
    for u in u {
        s.push_str(&format!(
            "  {}: {} = {}  ({})\n",
            u.from, u.key, u.value, u.reason
        ));
    }
}

fn sessions(cli: &Cli, out: &Out, a: &crate::args::SessionsArgs) -> anyhow::Result<u8> {
    let mut lo = ListOptions::default();
    lo.limit = a.limit;
    lo.label = a.label.as_deref().map(parse_label).transpose()?;
    let vault = open(cli)?;
    let list = vault.sessions(&lo)?;
    let doc = json!({ "sessions": report(&list)? });
    out.emit("sessions", doc, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    r.workflow.clone().unwrap_or_else(|| "-".into()),
                    r.strategy.clone(),
                    r.files.to_string(),
                    human_size(r.logical_bytes),
                ]
            })
            .collect();
        table(
            &[
                "SESSION",
                "CREATED (UTC)",
                "WORKFLOW",
                "STRATEGY",
                "FILES",
                "SIZE",
            ],
            &rows,
        )
    })?;
    Ok(EXIT_OK)
}

fn show(cli: &Cli, out: &Out, session: &str) -> anyhow::Result<u8> {
    let id = session_id(session)?;
    let vault = open(cli)?;
    let id = resolve(&vault, &id)?;
    let r = vault.session(&id)?;
    let details = r.closure.as_deref().cloned().unwrap_or_default();
    let files = vault.files(&id)?;
    // The record, then its files and the closure details stored with it.
    let mut doc = report(&r)?;
    if let Value::Object(m) = &mut doc {
        m.insert("files".into(), report(&files)?);
        m.insert("edges".into(), report(&details.edges)?);
        m.insert("unresolved".into(), report(&details.unresolved)?);
        m.insert("warnings".into(), report(&details.warnings)?);
    }
    out.emit("show", doc, || {
        let mut s = format!(
            "session   {}\ncreated   {}\nworkflow  {}\nstrategy  {}\nroot      {}\nsource    {}\nfiles     {} ({})\n",
            r.id,
            r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            r.workflow.as_deref().unwrap_or("-"),
            r.strategy,
            short(&r.root),
            r.source_root,
            r.files,
            human_size(r.logical_bytes),
        );
        for (k, v) in &r.labels {
            s.push_str(&format!("label     {k}={v}\n"));
        }
        if r.pinned {
            s.push_str("pinned    yes\n");
        }
        s.push('\n');
        let rows: Vec<Vec<String>> = files.iter().map(|f| vec![f.path.clone(), human_size(f.size), short(&f.id)]).collect();
        s.push_str(&table(&["PATH", "SIZE", "ID"], &rows));
        if !details.edges.is_empty() {
            s.push_str("\nreferences:\n");
            for e in &details.edges {
                s.push_str(&format!("  {} [{} = {}] -> {}  ({})\n", e.from, e.key, e.value, e.to, e.rule));
            }
        }
        if !details.unresolved.is_empty() {
            s.push_str(&format!("\nunresolved references ({}):\n", details.unresolved.len()));
            for u in &details.unresolved {
                s.push_str(&format!("  {}: {} = {}  ({})\n", u.from, u.key, u.value, u.reason));
            }
        }
        for w in &details.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        s
    })?;
    Ok(EXIT_OK)
}

fn restore_action(a: RestoreAction) -> &'static str {
    match a {
        RestoreAction::Restored => "restored",
        RestoreAction::Unchanged => "unchanged",
        RestoreAction::SkippedChanged => "skipped-changed",
        _ => "failed",
    }
}

fn restore_cmd(cli: &Cli, out: &Out, a: &crate::args::RestoreArgs) -> anyhow::Result<u8> {
    let id = session_id(&a.session)?;
    let mut ro = RestoreOptions::default();
    ro.overwrite = a.overwrite.into();
    let vault = open(cli)?;
    let id = resolve(&vault, &id)?;
    if !a.path.is_empty() {
        ro.paths = Some(a.path.clone());
    }
    let progress = Reporter::new(cli.json, cli.quiet);
    let report = vault.restore_with(&id, a.to.as_deref(), &ro, &progress)?;
    drop(progress);
    let failed = report.has_failures();
    let doc = json!({
        "session": id.as_str(),
        "files": report.files,
    });
    out.emit("restore", doc, || {
        let rows: Vec<Vec<String>> = report
            .files
            .iter()
            .map(|f| {
                vec![
                    restore_action(f.action).to_string(),
                    f.path.clone(),
                    f.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(&["ACTION", "PATH", "REASON"], &rows)
    })?;
    if failed {
        let n = report.with(RestoreAction::Failed).len();
        let _ = writeln!(
            std::io::stderr(),
            "cfgvault restore: {n} file(s) could not be restored"
        );
        return Ok(crate::EXIT_IO);
    }
    Ok(EXIT_OK)
}

fn ensure(cli: &Cli, out: &Out, a: &crate::args::EnsureArgs) -> anyhow::Result<u8> {
    let id = session_id(&a.session)?;
    let eo = EnsureOptions::new()
        .overwrite(a.overwrite.into())
        .diff(a.diff)
        .dry_run(a.dry_run);
    let vault = open(cli)?;
    let id = resolve(&vault, &id)?;
    let progress = Reporter::new(cli.json, cli.quiet);
    let r = vault.ensure_with(&id, a.root.as_deref(), &eo, &progress)?;
    drop(progress);
    let drifted = r.drifted();
    let failed = r.failed();
    let doc = report(&r)?;
    out.emit("ensure", doc, || {
        let mut s = String::new();
        for f in &r.files {
            let (tag, why) = match &f.status {
                EnsureStatus::Restored if r.dry_run => ("missing", String::new()),
                EnsureStatus::Restored => ("restored", String::new()),
                EnsureStatus::Ok => ("ok", String::new()),
                EnsureStatus::Drifted => ("drifted", String::new()),
                EnsureStatus::Failed(w) => ("failed", format!("  ({w})")),
                _ => (f.status.as_str(), String::new()),
            };
            s.push_str(&format!("{tag:<9} {}{why}\n", f.path));
            if let Some(d) = &f.diff {
                s.push_str(d);
                if !d.ends_with('\n') {
                    s.push('\n');
                }
            }
        }
        let (restored, ok, drifted, failed) = (
            r.restored().len(),
            r.ok().len(),
            r.drifted().len(),
            r.failed().len(),
        );
        if r.dry_run {
            s.push_str(&format!(
                "\nwould restore {restored}, {ok} ok, {drifted} drifted, {failed} failed (dry run: nothing written)\n"
            ));
        } else {
            s.push_str(&format!(
                "\n{restored} restored, {ok} ok, {drifted} drifted, {failed} failed\n"
            ));
        }
        s
    })?;
    if !failed.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "cfgvault ensure: {} file(s) could not be checked or restored",
            failed.len()
        );
        return Ok(crate::EXIT_IO);
    }
    // A dry run that would restore something has found what a real ensure would fix.
    let would_restore = a.dry_run && !r.restored().is_empty();
    Ok(if !drifted.is_empty() || would_restore {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    })
}

fn log(cli: &Cli, out: &Out, path: &str, follow: bool) -> anyhow::Result<u8> {
    let vault = open(cli)?;
    let followed = if follow {
        vault.versions_following(path)?
    } else {
        cfgvault::Followed::only(path, vault.versions(path)?)
    };
    let mut doc = report(&followed)?;
    if let Value::Object(m) = &mut doc {
        m.insert("path".into(), json!(path));
    }
    let (names, renames) = (&followed.names, &followed.renames);
    let ts =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    out.emit("log", doc, || {
        let rows: Vec<Vec<String>> = names
            .iter()
            .flat_map(|(p, vs)| vs.iter().map(move |v| (p, v)))
            .enumerate()
            .map(|(i, (p, v))| {
                let mut row = vec![
                    (i + 1).to_string(),
                    short(&v.id),
                    human_size(v.size),
                    ts(&v.first_seen),
                    ts(&v.last_seen),
                    v.sessions.to_string(),
                ];
                if follow {
                    row.push(p.clone());
                }
                row
            })
            .collect();
        let mut header = vec!["#", "ID", "SIZE", "FIRST SEEN", "LAST SEEN", "SESSIONS"];
        if follow {
            header.push("PATH");
        }
        let mut s = table(&header, &rows);
        for r in renames {
            s.push_str(&format!(
                "renamed {} -> {} ({}% similar) in session {}\n",
                r.from, r.to, r.similarity, r.session
            ));
        }
        s
    })?;
    Ok(EXIT_OK)
}

fn diff(cli: &Cli, out: &Out, a: &crate::args::DiffArgs) -> anyhow::Result<u8> {
    let ida = session_id(&a.a)?;
    let idb = a.b.as_deref().map(session_id).transpose()?;
    let vault = open(cli)?;
    let ida = resolve(&vault, &ida)?;
    let idb = idb.map(|b| resolve(&vault, &b)).transpose()?;
    let (d, patches) = match (idb, &a.root) {
        (Some(idb), None) => {
            let d = vault.diff(&ida, &idb)?;
            let mut patches = Vec::new();
            if a.patch {
                for p in &d.modified {
                    let t = vault.unified(Side::Session(&ida), Side::Session(&idb), p)?;
                    patches.push((p.clone(), t));
                }
            }
            (d, patches)
        }
        (None, Some(dir)) => {
            // A missing directory would read as "every file removed"; it is a typo, not a diff.
            if !dir.is_dir() {
                invalid!("'{}' is not a directory", dir.display());
            }
            let d = vault.diff_dir(&ida, dir, Scope::Session)?;
            let mut patches = Vec::new();
            if a.patch {
                for p in &d.modified {
                    let t = vault.unified(Side::Session(&ida), Side::Dir(dir), p)?;
                    patches.push((p.clone(), t));
                }
            }
            (d, patches)
        }
        _ => invalid!("give a second session or --root DIR"),
    };
    let changed = !d.is_empty();
    let mut doc = report(&d)?;
    if let Value::Object(m) = &mut doc {
        let patches: Vec<Value> = patches
            .iter()
            .map(|(p, t)| json!({"path": p, "patch": t}))
            .collect();
        m.insert("patches".into(), json!(patches));
    }
    out.emit("diff", doc, || {
        let mut s = String::new();
        for p in &d.added {
            s.push_str(&format!("A {p}\n"));
        }
        for p in &d.removed {
            s.push_str(&format!("D {p}\n"));
        }
        for p in &d.modified {
            s.push_str(&format!("M {p}\n"));
        }
        for r in &d.renamed {
            s.push_str(&format!("R {} -> {} ({}%)\n", r.from, r.to, r.similarity));
        }
        for c in &d.changes {
            if c.formatting_only {
                s.push_str(&format!("  {}: formatting only\n", c.path));
            }
            for k in &c.keys {
                let show = |v: &Option<Value>| v.as_ref().map_or("-".to_owned(), |v| v.to_string());
                s.push_str(&format!(
                    "  {}: {}: {} -> {}\n",
                    c.path,
                    k.key,
                    show(&k.old),
                    show(&k.new)
                ));
            }
        }
        for (_, t) in &patches {
            s.push('\n');
            s.push_str(t);
        }
        if !changed {
            s.push_str("no differences\n");
        }
        s
    })?;
    Ok(if changed { EXIT_PROBLEMS } else { EXIT_OK })
}

fn cat(cli: &Cli, spec: &str) -> anyhow::Result<u8> {
    enum Target<'a> {
        File(SessionId, &'a str),
        Object(&'a str),
    }
    // The spec is checked before the store is opened: bad input is reported as such.
    let target = match spec.split_once(':') {
        Some((s, p)) => Target::File(session_id(s)?, p),
        None if spec.len() >= 4
            && spec.len() <= 64
            && spec.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Target::Object(spec)
        }
        None => {
            let why = spec
                .parse::<ObjectId>()
                .map_err(cfgvault::Error::from)
                .err();
            let why = why.map(|e| format!(": {e}")).unwrap_or_default();
            invalid!(
                "'{}' is neither SESSION:PATH nor an object id (or a prefix of 4 or more hex digits){why}",
                truncate(spec, 80)
            )
        }
    };
    let vault = open(cli)?;
    let bytes = match target {
        Target::File(id, p) => vault.read_file(&resolve(&vault, &id)?, p)?,
        Target::Object(prefix) => vault.read_object(&vault.resolve_object(prefix)?)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&bytes)?;
    stdout.flush()?;
    Ok(EXIT_OK)
}

fn pin(
    cli: &Cli,
    out: &Out,
    command: &str,
    sessions: &[String],
    pinned: bool,
) -> anyhow::Result<u8> {
    let ids = sessions
        .iter()
        .map(|s| session_id(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let vault = open(cli)?;
    let mut done = Vec::with_capacity(ids.len());
    for id in &ids {
        let id = resolve(&vault, id)?;
        if pinned {
            vault.pin(&id)?;
        } else {
            vault.unpin(&id)?;
        }
        done.push(id);
    }
    let verb = if pinned { "pinned" } else { "unpinned" };
    let doc = json!({ "sessions": done, "pinned": pinned });
    out.emit(command, doc, || {
        done.iter().map(|id| format!("{verb} {id}\n")).collect()
    })?;
    Ok(EXIT_OK)
}

fn label(cli: &Cli, out: &Out, session: &str, labels: &[String]) -> anyhow::Result<u8> {
    let id = session_id(session)?;
    let mut changes = Vec::with_capacity(labels.len());
    for l in labels {
        let (k, v) = parse_label(l)?;
        changes.push((k, (!v.is_empty()).then_some(v)));
    }
    let vault = open(cli)?;
    let id = resolve(&vault, &id)?;
    let now = vault.update_labels(&id, changes)?;
    let doc = json!({ "session": id, "labels": now });
    out.emit("label", doc, || {
        let mut s = format!("session {id}\n");
        for (k, v) in &now {
            s.push_str(&format!("label   {k}={v}\n"));
        }
        s
    })?;
    Ok(EXIT_OK)
}

fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "cfgvault", &mut stdout);
    stdout.flush()?;
    Ok(EXIT_OK)
}

fn man() -> anyhow::Result<u8> {
    use clap::CommandFactory;
    let mut stdout = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut stdout)?;
    stdout.flush()?;
    Ok(EXIT_OK)
}

fn rm(cli: &Cli, out: &Out, sessions: &[String]) -> anyhow::Result<u8> {
    let ids = sessions
        .iter()
        .map(|s| session_id(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let vault = open(cli)?;
    let ids = ids
        .iter()
        .map(|id| resolve(&vault, id))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let c = vault.delete(&ids)?;
    let mut doc = serde_json::to_value(c)?;
    if let Value::Object(m) = &mut doc {
        m.insert("removed".into(), json!(ids));
    }
    out.emit("rm", doc, || {
        format!(
            "removed {} session(s); freed {} objects, {}",
            ids.len(),
            c.objects_freed,
            human_size(c.bytes_freed)
        )
    })?;
    Ok(EXIT_OK)
}

/// An age such as `30d`, `12h`, `2w`, `90m` or `1month 2d` (humantime's syntax).
pub fn parse_age(s: &str) -> anyhow::Result<std::time::Duration> {
    match humantime::parse_duration(s) {
        Ok(d) => Ok(d),
        Err(_) => invalid!(
            "invalid age '{}': expected a number and a unit such as s, m, h, d or w (e.g. 30d)",
            truncate(s, 40)
        ),
    }
}

fn cleanup(cli: &Cli, out: &Out, a: &crate::args::CleanupArgs) -> anyhow::Result<u8> {
    let mut policy = RetentionPolicy::default();
    policy.older_than = a.older_than.as_deref().map(parse_age).transpose()?;
    policy.keep_last = a.keep_last;
    policy.keep_daily = a.keep_daily;
    policy.keep_weekly = a.keep_weekly;
    if policy.older_than.is_none()
        && policy.keep_last.is_none()
        && policy.keep_daily.is_none()
        && policy.keep_weekly.is_none()
    {
        invalid!("give at least one of --older-than, --keep-last, --keep-daily, --keep-weekly");
    }
    let vault = open(cli)?;
    let plan = vault.cleanup_plan(&policy, chrono::Utc::now())?;
    let applied = if a.dry_run || plan.remove.is_empty() {
        None
    } else {
        Some(vault.cleanup_apply(&plan)?)
    };
    let remove: Vec<&str> = plan.remove.iter().map(|i| i.as_str()).collect();
    let mut doc = serde_json::to_value(&plan)?;
    if let Value::Object(m) = &mut doc {
        m.insert("dry_run".into(), json!(a.dry_run));
        // What the commit freed, when it ran (the plan's figures otherwise).
        if let Some(c) = applied {
            m.insert("objects_freed".into(), json!(c.objects_freed));
            m.insert("bytes_freed".into(), json!(c.bytes_freed));
        }
    }
    out.emit("cleanup", doc, || {
        let verb = if a.dry_run { "would remove" } else { "removed" };
        let mut s = String::new();
        for id in &remove {
            s.push_str(&format!("{verb} {id}\n"));
        }
        s.push_str(&format!(
            "{verb} {} session(s), keeping {}; {} objects, {} freed\n",
            remove.len(),
            plan.keep.len(),
            applied
                .map(|c| c.objects_freed)
                .unwrap_or(plan.objects_freed),
            human_size(applied.map(|c| c.bytes_freed).unwrap_or(plan.bytes_freed)),
        ));
        if !a.dry_run && !remove.is_empty() {
            s.push_str("run `cfgvault gc` to give the space back to the file system\n");
        }
        s
    })?;
    Ok(EXIT_OK)
}

fn gc(cli: &Cli, out: &Out) -> anyhow::Result<u8> {
    let vault = open(cli)?;
    let progress = Reporter::new(cli.json, cli.quiet);
    let mut o = vault.gc(&progress)?;
    drop(progress);
    // The size `ls` shows once the command is over: closing the store is part of it.
    drop(vault);
    if let Ok(m) = std::fs::metadata(store_path(cli)) {
        o.file_bytes_after = m.len();
    }
    let mut doc = serde_json::to_value(&o)?;
    if let Value::Object(m) = &mut doc {
        // Kept for the cfgvault/1 contract: packs replaced per-object re-encoding.
        m.insert("recompressed".into(), json!(0));
        m.insert("recompressed_bytes_saved".into(), json!(0));
    }
    out.emit("gc", doc, || {
        let mut s = format!(
            "removed {} objects ({}); file {} -> {}\n",
            o.objects_removed,
            human_size(o.bytes_freed),
            human_size(o.file_bytes_before),
            human_size(o.file_bytes_after)
        );
        if o.packs_written > 0 {
            s.push_str(&format!(
                "packed {} objects into {} pack(s)\n",
                o.packed, o.packs_written
            ));
        }
        if let Some(why) = &o.compaction_skipped {
            s.push_str(&format!("compaction skipped: {why}\n"));
        }
        s
    })?;
    Ok(EXIT_OK)
}

fn verify_cmd(cli: &Cli, out: &Out, repair: bool) -> anyhow::Result<u8> {
    let vault = open(cli)?;
    let progress = Reporter::new(cli.json, cli.quiet);
    let mut vo = VerifyOptions::default();
    vo.repair = repair;
    let o = vault.verify(&vo, &progress)?;
    drop(progress);
    let doc = serde_json::to_value(&o)?;
    out.emit("verify", doc, || {
        let mut s = String::new();
        for p in &o.problems {
            let id = p.id.map(|i| short(&i)).unwrap_or_else(|| "-".into());
            s.push_str(&format!("{:<18} {id:<12}  {}\n", p.kind.as_str(), p.detail));
        }
        s.push_str(&format!(
            "checked {} objects ({}), {} roots: {}\n",
            o.objects_checked,
            human_size(o.bytes_checked),
            o.roots_checked,
            match (o.problems.len(), o.repaired) {
                (0, _) => "ok".to_string(),
                (n, true) => format!("{n} problem(s), repaired what could be"),
                (n, false) => format!("{n} problem(s)"),
            }
        ));
        s
    })?;
    // After a repair, what remains is what the repair could not fix.
    let remaining = if o.repaired {
        o.problems
            .iter()
            .filter(|p| matches!(p.kind, ProblemKind::Corrupt | ProblemKind::Missing))
            .count()
    } else {
        o.problems.len()
    };
    Ok(if remaining == 0 {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

fn stats(cli: &Cli, out: &Out) -> anyhow::Result<u8> {
    let vault = open(cli)?;
    let s = vault.stats()?;
    let ts = |t: &Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    let doc = report(&s)?;
    out.emit("stats", doc, || {
        let dash = || "-".to_string();
        format!(
            "sessions           {}\nobjects            {}\nlogical size       {}\nunique size        {}\nstored size        {}\nfile size          {}\ndedup ratio        {}\ncompression ratio  {}\noverall ratio      {}\noldest             {}\nnewest             {}\n",
            s.sessions,
            s.objects,
            human_size(s.logical_bytes),
            human_size(s.unique_bytes),
            human_size(s.stored_bytes),
            human_size(s.file_bytes),
            human_ratio(s.dedup_ratio),
            human_ratio(s.compression_ratio),
            human_ratio(s.overall_ratio),
            ts(&s.oldest).unwrap_or_else(dash),
            ts(&s.newest).unwrap_or_else(dash),
        )
    })?;
    Ok(EXIT_OK)
}

fn deps(out: &Out, a: &crate::args::DepsArgs) -> anyhow::Result<u8> {
    let strategy = parse_strategy(a.closure.strategy.as_deref())?;
    let is_tree = strategy == Strategy::Tree;
    let o = closure_options(&a.closure, strategy)?;
    let c = match &a.closure.workflow {
        Some(wf) => closure::resolve(&a.closure.root, wf, &o).map_err(cfgvault::Error::from)?,
        None if is_tree => {
            closure::resolve_tree(&a.closure.root, &o).map_err(cfgvault::Error::from)?
        }
        None => invalid!("--workflow is required unless --strategy tree"),
    };
    let via = |f: &closure::FileEntry| -> Vec<String> {
        f.via
            .iter()
            .filter_map(|i| c.edges.get(*i))
            .map(|e| format!("{}:{}", e.from, e.key))
            .collect()
    };
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &c.files {
        *by_kind.entry(f.kind.as_str()).or_default() += 1;
    }
    let doc = json!({
        "workflow": c.workflow,
        "files": c.files.iter().map(|f| json!({"path": f.path, "kind": f.kind.as_str(), "via": via(f)})).collect::<Vec<_>>(),
        "edges": c.edges.iter().map(|e| json!({"from": e.from, "key": e.key, "value": e.value, "to": e.to, "rule": e.rule})).collect::<Vec<_>>(),
        "unresolved": unresolved_json(&c.unresolved),
        "parse_errors": c.parse_errors.iter().map(|p| json!({"path": p.path, "line": p.line, "column": p.column, "message": p.message})).collect::<Vec<_>>(),
        "cycles": c.cycles,
        "workflow_error": c.workflow_error,
        "hints": c.hints,
        "dropped": c.dropped,
    });
    out.emit("deps", doc, || {
        let rows: Vec<Vec<String>> = c
            .files
            .iter()
            .map(|f| {
                let v = via(f);
                vec![
                    f.path.clone(),
                    f.kind.as_str().into(),
                    if v.is_empty() {
                        "(root)".into()
                    } else {
                        v.join(", ")
                    },
                ]
            })
            .collect();
        let mut s = table(&["PATH", "KIND", "VIA"], &rows);
        push_unresolved(&mut s, &c.unresolved);
        for p in &c.parse_errors {
            let at = match (p.line, p.column) {
                (Some(l), Some(col)) => format!(":{l}:{col}"),
                _ => String::new(),
            };
            s.push_str(&format!("parse error: {}{at}: {}\n", p.path, p.message));
        }
        for cy in &c.cycles {
            s.push_str(&format!("cycle: {}\n", cy.join(" -> ")));
        }
        push_findings(&mut s, &c);
        s.push_str(&format!("\n{} files", c.files.len()));
        let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
        if !kinds.is_empty() {
            s.push_str(&format!(" ({})", kinds.join(", ")));
        }
        s.push_str(&format!(", {} unresolved\n", c.unresolved.len()));
        s
    })?;
    Ok(if c.unresolved.is_empty() && c.workflow_error.is_none() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// The closure's hints, dropped references and an unparsable workflow, one line each.
fn push_findings(s: &mut String, c: &closure::Closure) {
    for h in &c.hints {
        s.push_str(&format!(
            "hint: {}:{}={} may name {}\n",
            h.path,
            h.key,
            h.value,
            h.candidates.join(", ")
        ));
    }
    for d in &c.dropped {
        s.push_str(&format!(
            "dropped: {} references of {} ({})\n",
            d.count, d.path, d.limit
        ));
    }
    if let Some(e) = &c.workflow_error {
        s.push_str(&format!(
            "error: the workflow {} does not parse: {}\n",
            e.path, e.message
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        let days = |n: u64| Some(std::time::Duration::from_secs(n * 86_400));
        assert_eq!(parse_age("30d").ok(), days(30));
        assert_eq!(parse_age("2w").ok(), days(14));
        assert_eq!(
            parse_age("1d 12h").ok(),
            Some(std::time::Duration::from_secs(36 * 3600))
        );
        assert!(parse_age("30").is_err());
        assert!(parse_age("").is_err());
        assert!(parse_age("-1d").is_err());
        assert!(parse_age("99999999999999999999d").is_err());
        assert!(parse_age("é").is_err());
    }
}
