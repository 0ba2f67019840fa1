//! The resolver: one walk of the root, a worklist over files, each file parsed at most once.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::GlobSet;
use serde_yaml::{Mapping, Value};

use crate::Checked;
use crate::Profile;
use crate::cache::{Cache, walk_cached};
use crate::cycles::find_cycles;
use crate::hints::{HintIndex, hints_in};
use crate::index::Index;
use crate::load::{Doc, has_key, load, scalar, untag};
use crate::place::{check_workflow, open_root};
use crate::profile::{CheckKey, Compiled, PathSeg, Rule, Target, render_key_path};
use crate::strategy::Selection;
use crate::strategy::exclude_set;
use crate::template::{Seg, expand, has_drive, normalize, render_segs, segs_match};
use crate::{Closure, Dropped, Edge, Error, FileEntry, FileKind, Hint, Options, Unresolved};

/// At most this many references of one file are followed; the rest are reported as dropped.
/// Real files hold a few dozen.
const MAX_REFS_PER_FILE: usize = 25_000;

/// At most this many references are followed in one analysis; the rest are reported as dropped.
const MAX_REFS_PER_CLOSURE: usize = 250_000;

/// How many tried candidates an `unresolved` reason lists before eliding the rest.
const MAX_TRIED_SHOWN: usize = 6;

#[derive(Default)]
struct FieldIndex {
    by_value: HashMap<String, Vec<String>>,
    /// Files that do not parse, by file stem: their field is unknown, the stem is the best guess.
    by_stem: HashMap<String, Vec<String>>,
}

/// A reference found in a file, before resolution.
struct Ref {
    rule: usize,
    key: String,
    value: String,
    /// The `{field:NAME}` values of the mapping holding the reference (absent ones omitted).
    fields: Vec<(String, String)>,
}

/// The references of one file, at most [`MAX_REFS_PER_FILE`], with a count of the rest.
#[derive(Default)]
struct Refs {
    list: Vec<Ref>,
    dropped: usize,
}

impl Refs {
    fn push(&mut self, r: Ref) {
        if self.list.len() < MAX_REFS_PER_FILE {
            self.list.push(r);
        } else {
            self.dropped += 1;
        }
    }
}

/// The children of a mapping or sequence still to visit; a sequence's items are held by the
/// mapping holding the sequence.
enum Children<'v> {
    Map(&'v Mapping, serde_yaml::mapping::Iter<'v>),
    Seq(
        Option<&'v Mapping>,
        std::iter::Enumerate<std::slice::Iter<'v, Value>>,
    ),
}

/// The references rule `i` finds at `node` (its key path `at`): the scalar, or each scalar of a
/// sequence.
fn refs_at(
    refs: &mut Refs,
    i: usize,
    rule: &Rule,
    node: &Value,
    at: &[PathSeg],
    holder: Option<&Mapping>,
) {
    let fields: Vec<(String, String)> = match (&rule.target, holder) {
        (Target::Paths { fields, .. }, Some(map)) => fields
            .iter()
            .filter_map(|f| Some((f.clone(), scalar(map.get(f.as_str())?)?)))
            .collect(),
        _ => Vec::new(),
    };
    match node {
        Value::Sequence(items) => {
            for (n, item) in items.iter().enumerate() {
                let Some(value) = scalar(item) else {
                    continue;
                };
                if refs.list.len() >= MAX_REFS_PER_FILE {
                    refs.dropped += 1;
                    continue;
                }
                let mut key = at.to_vec();
                key.push(PathSeg::Index(n));
                refs.push(Ref {
                    rule: i,
                    key: render_key_path(&key),
                    value,
                    fields: fields.clone(),
                });
            }
        }
        other => {
            if let Some(value) = scalar(other) {
                refs.push(Ref {
                    rule: i,
                    key: render_key_path(at),
                    value,
                    fields,
                });
            }
        }
    }
}

/// Splits a `subkey` rule's value `NAME.SUBKEY` at its first `.`; other values are all name.
fn split_subkey(rule: &Rule, value: &str) -> (String, Option<String>) {
    match value.split_once('.') {
        Some((name, sub)) if rule.subkey && !name.is_empty() && !sub.is_empty() => {
            (name.to_owned(), Some(sub.to_owned()))
        }
        _ => (value.to_owned(), None),
    }
}

struct Analysis<'a> {
    root: &'a Path,
    profile: &'a Profile,
    index: &'a Index,
    docs: HashMap<String, Arc<Doc>>,
    cache: Option<&'a Cache>,
    field_indexes: HashMap<usize, FieldIndex>,
    edges: Vec<Edge>,
    unresolved: Vec<Unresolved>,
    dropped: Vec<Dropped>,
    /// The key paths at which rules took references, by file.
    followed: HashMap<String, HashSet<String>>,
    reached: BTreeSet<String>,
    queue: VecDeque<String>,
    /// The folders whose lists of files the analysis consulted (relative, `""` for the root),
    /// each with whether the folders below it count too: the result depends on those lists
    /// (and on its parsed files) alone.
    watched: Vec<(String, bool)>,
}

/// The folder `path` (relative) lies in.
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

impl<'a> Analysis<'a> {
    fn new(
        root: &'a Path,
        profile: &'a Profile,
        index: &'a Index,
        cache: Option<&'a Cache>,
    ) -> Self {
        Analysis {
            root,
            profile,
            index,
            docs: HashMap::new(),
            cache,
            field_indexes: HashMap::new(),
            edges: Vec::new(),
            unresolved: Vec::new(),
            dropped: Vec::new(),
            followed: HashMap::new(),
            reached: BTreeSet::new(),
            queue: VecDeque::new(),
            watched: Vec::new(),
        }
    }

    /// The profile's rules and globs beyond its kinds (compiled on first use).
    fn rules(&self) -> &'a Compiled {
        self.profile.compiled()
    }

    fn is_yaml(&self, path: &str) -> bool {
        self.rules().parse.is_match(path)
    }

    /// Parses `path` the first time it is asked for; `force` parses it even if the profile does
    /// not call it YAML (the workflow itself).
    fn doc(&mut self, path: &str, force: bool) -> &Doc {
        if !self.docs.contains_key(path) {
            let doc = if force || self.is_yaml(path) {
                let abs = self.root.join(path);
                match self.cache {
                    Some(c) => c.get_or_load(&abs, path, || load(&abs, path)),
                    None => Arc::new(load(&abs, path)),
                }
            } else {
                Arc::new(Doc::Skipped)
            };
            self.docs.insert(path.to_owned(), doc);
        }
        self.docs
            .get(path)
            .map(|d| d.as_ref())
            .expect("inserted above when it was missing")
    }

    fn reach(&mut self, path: &str) {
        if self.reached.insert(path.to_owned()) {
            self.queue.push_back(path.to_owned());
        }
    }

    fn run(&mut self, roots: &[String]) {
        for r in roots {
            // Roots are parsed even when the profile would skip them.
            self.doc(r, true);
            self.reach(r);
        }
        let mut followed = 0usize;
        while let Some(path) = self.queue.pop_front() {
            let refs = self.collect_refs(&path);
            let room = MAX_REFS_PER_CLOSURE.saturating_sub(followed);
            if refs.len() > room {
                self.dropped.push(Dropped {
                    path: path.clone(),
                    count: refs.len() - room,
                    limit: format!("{MAX_REFS_PER_CLOSURE} references per closure"),
                });
            }
            let keys = self.followed.entry(path.clone()).or_default();
            keys.extend(refs.iter().map(|r| r.key.clone()));
            for r in refs.into_iter().take(room) {
                followed += 1;
                self.follow(&path, r);
            }
        }
    }

    /// The references `path` holds, in document order, at most [`MAX_REFS_PER_FILE`] (the
    /// rest counted in `dropped`).
    fn collect_refs(&mut self, path: &str) -> Vec<Ref> {
        let profile = self.rules();
        let rules: Vec<usize> = profile
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.from.as_ref().is_none_or(|g| g.is_match(path)))
            .map(|(i, _)| i)
            .collect();
        let mut refs = Refs::default();
        for &i in &rules {
            if let Some(v) = &profile.rules[i].implicit {
                refs.push(Ref {
                    rule: i,
                    key: "(implicit)".to_owned(),
                    value: v.clone(),
                    fields: Vec::new(),
                });
            }
        }
        let Doc::Parsed(value) = self.doc(path, false) else {
            return refs.list;
        };
        // Depth-first over an explicit stack of child iterators (memory proportional to the
        // depth, not the size); `at` is the key path of the node visited.
        let mut at: Vec<PathSeg> = Vec::new();
        let mut frames: Vec<Children<'_>> = Vec::new();
        let mut next: Option<(&Value, Option<&Mapping>)> = Some((value, None));
        loop {
            if let Some((node, holder)) = next.take() {
                let node = untag(node);
                for &i in &rules {
                    let rule: &Rule = &profile.rules[i];
                    if rule.keys.iter().any(|k| k.matches(&at)) {
                        refs_at(&mut refs, i, rule, node, &at, holder);
                    }
                }
                match node {
                    Value::Mapping(map) => frames.push(Children::Map(map, map.iter())),
                    Value::Sequence(items) => {
                        frames.push(Children::Seq(holder, items.iter().enumerate()))
                    }
                    _ => {}
                }
            }
            let depth = frames.len().saturating_sub(1);
            let Some(top) = frames.last_mut() else {
                break;
            };
            let child = match top {
                Children::Map(map, iter) => iter.next().map(|(k, v)| {
                    let key = scalar(k).unwrap_or_else(|| "?".to_owned());
                    (PathSeg::Key(key), v, Some(*map))
                }),
                Children::Seq(holder, iter) => {
                    iter.next().map(|(n, v)| (PathSeg::Index(n), v, *holder))
                }
            };
            match child {
                Some((seg, v, holder)) => {
                    at.truncate(depth);
                    at.push(seg);
                    next = Some((v, holder));
                }
                None => {
                    frames.pop();
                }
            }
        }
        if refs.dropped > 0 {
            self.dropped.push(Dropped {
                path: path.to_owned(),
                count: refs.dropped,
                limit: format!("{MAX_REFS_PER_FILE} references per file"),
            });
        }
        refs.list
    }

    fn follow(&mut self, from: &str, r: Ref) {
        let profile = self.rules();
        let rule = &profile.rules[r.rule];
        let implicit = rule.implicit.is_some();
        let outcome = match &rule.target {
            Target::Paths { .. } => self.resolve_paths(from, &r, rule),
            Target::ByField { .. } => self.resolve_by_field(&r, rule),
            Target::Registry { .. } => self.resolve_registry(from, &r, rule),
            Target::All {
                include,
                except,
                watch,
            } => {
                for w in watch {
                    self.watched.push((w.clone(), true));
                }
                Ok(self
                    .index
                    .files
                    .iter()
                    .filter(|p| include.is_match(p.as_str()) && !except.is_match(p.as_str()))
                    .cloned()
                    .collect())
            }
        };
        match outcome {
            Ok(targets) => {
                for to in targets {
                    // A provider's common.yaml does not inherit itself.
                    if implicit && to == from {
                        continue;
                    }
                    self.edges.push(Edge {
                        from: from.to_owned(),
                        key: r.key.clone(),
                        value: r.value.clone(),
                        to: to.clone(),
                        rule: rule.name.clone(),
                    });
                    self.reach(&to);
                }
            }
            Err(Some(reason)) => self.unresolved.push(Unresolved {
                from: from.to_owned(),
                key: r.key,
                value: r.value,
                reason,
            }),
            Err(None) => {}
        }
    }

    /// `Err(None)` = nothing found and the rule says that is fine.
    fn resolve_paths(
        &mut self,
        from: &str,
        r: &Ref,
        rule: &Rule,
    ) -> Result<Vec<String>, Option<String>> {
        let Target::Paths {
            candidates,
            ancestors,
            default_suffix,
            check_key,
            optional,
            ..
        } = &rule.target
        else {
            return Err(None);
        };
        let (name, subkey) = split_subkey(rule, &r.value);
        let value = name.as_str();
        if value.is_empty() {
            return Err(Some("empty value".to_owned()));
        }
        if value.contains("${") {
            return Err(Some("contains a placeholder".to_owned()));
        }
        let (path_value, fragment) = match (check_key, value.split_once('#')) {
            (Some(CheckKey::Fragment), Some((p, f))) => (p, Some(f)),
            _ => (value, None),
        };
        if path_value.starts_with('/') || path_value.starts_with('\\') || has_drive(path_value) {
            return Err(Some("outside the config root".to_owned()));
        }
        let mut variants = Vec::with_capacity(2);
        if let Some(suffix) = default_suffix
            && !path_value.ends_with(suffix.as_str())
        {
            variants.push(format!("{path_value}{suffix}"));
        }
        variants.push(path_value.to_owned());

        let from_dir: Vec<&str> = match from.rsplit_once('/') {
            Some((d, _)) => d.split('/').collect(),
            None => Vec::new(),
        };
        let depths: Vec<usize> = if *ancestors {
            (0..=from_dir.len()).rev().collect()
        } else {
            vec![from_dir.len()]
        };
        let mut tried = Vec::new();
        let mut escaped = 0usize;
        let mut found = Vec::new();
        'search: for depth in depths {
            let dir = &from_dir[..depth];
            for template in candidates {
                for v in &variants {
                    let Some(segs) = expand(template, dir, v, &r.fields) else {
                        escaped += 1;
                        continue;
                    };
                    tried.push(render_segs(&segs));
                    found = self.lookup(&segs);
                    if !found.is_empty() {
                        break 'search;
                    }
                }
            }
        }
        if found.is_empty() {
            if *optional {
                return Err(None);
            }
            if tried.is_empty() && escaped > 0 {
                return Err(Some("outside the config root".to_owned()));
            }
            let mut list = tried
                .iter()
                .take(MAX_TRIED_SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if tried.len() > MAX_TRIED_SHOWN {
                list.push_str(&format!(" and {} more", tried.len() - MAX_TRIED_SHOWN));
            }
            if escaped > 0 {
                list.push_str(&format!("; {escaped} outside the config root"));
            }
            return Err(Some(format!("not found (tried {list})")));
        }
        let key = match check_key {
            Some(CheckKey::Value) => Some(value),
            Some(CheckKey::Fragment) => fragment,
            None => subkey.as_deref(),
        };
        if let Some(key) = key {
            self.check_keys(from, r, key, &found);
        }
        Ok(found)
    }

    /// Reports each of `targets` lacking the top-level key `key` as unresolved.
    fn check_keys(&mut self, from: &str, r: &Ref, key: &str, targets: &[String]) {
        for target in targets {
            // An empty file (null) has no keys; a file that does not parse cannot be checked.
            let missing = match self.doc(target, false) {
                Doc::Parsed(v) => !has_key(v, key),
                _ => false,
            };
            if missing {
                self.unresolved.push(Unresolved {
                    from: from.to_owned(),
                    key: r.key.clone(),
                    value: r.value.clone(),
                    reason: format!("key '{key}' not found in {target}"),
                });
            }
        }
    }

    /// Looks the reference's name up in a registry file: the registry and the file its entry
    /// names (or the registry alone when the entry is defined there), or why not.
    fn resolve_registry(
        &mut self,
        from: &str,
        r: &Ref,
        rule: &Rule,
    ) -> Result<Vec<String>, Option<String>> {
        let Target::Registry {
            file,
            entry,
            file_field,
            relative_to,
        } = &rule.target
        else {
            return Err(None);
        };
        if r.value.is_empty() {
            return Err(Some("empty value".to_owned()));
        }
        if r.value.contains("${") {
            return Err(Some("contains a placeholder".to_owned()));
        }
        let (name, subkey) = split_subkey(rule, &r.value);
        self.watched.push((parent(file).to_owned(), false));
        if !self.index.files.contains(file) {
            return Err(Some(format!("registry {file} not found")));
        }
        let entry_path: Vec<&str> = entry
            .iter()
            .map(|s| {
                if s == "{name}" {
                    name.as_str()
                } else {
                    s.as_str()
                }
            })
            .collect();
        let entry_text = entry_path.join(".");
        // The entry's named file, or `None` with whether the subkey is missing when inline.
        let (named, inline_missing) = match self.doc(file, true) {
            Doc::Parsed(v) => {
                let mut node = Some(v);
                for seg in &entry_path {
                    node = node.and_then(|n| untag(n).get(*seg));
                }
                let Some(node) = node.map(untag) else {
                    return Err(Some(format!("no {entry_text} in {file}")));
                };
                match node.get(file_field.as_str()).and_then(scalar) {
                    Some(p) => (Some(p), false),
                    None => (None, subkey.as_deref().is_some_and(|k| !has_key(node, k))),
                }
            }
            Doc::Failed(_) => return Err(Some(format!("registry {file} does not parse"))),
            Doc::Skipped => return Err(Some(format!("registry {file} is not YAML"))),
        };
        let Some(named) = named else {
            if inline_missing && let Some(sub) = &subkey {
                self.unresolved.push(Unresolved {
                    from: from.to_owned(),
                    key: r.key.clone(),
                    value: r.value.clone(),
                    reason: format!("key '{sub}' not found in {entry_text} of {file}"),
                });
            }
            return Ok(vec![file.clone()]);
        };
        let joined = if relative_to.is_empty() {
            named.clone()
        } else {
            format!("{relative_to}/{named}")
        };
        let Some(target) = normalize(&joined).filter(|t| !t.is_empty()) else {
            return Err(Some(format!(
                "{entry_text}.{file_field} in {file} ('{named}') is outside the config root"
            )));
        };
        self.watched.push((parent(&target).to_owned(), false));
        if !self.index.files.contains(&target) {
            return Err(Some(format!(
                "not found (tried {target}, named by {entry_text}.{file_field} in {file})"
            )));
        }
        if let Some(sub) = &subkey {
            self.check_keys(from, r, sub, std::slice::from_ref(&target));
        }
        Ok(vec![file.clone(), target])
    }

    fn resolve_by_field(&mut self, r: &Ref, rule: &Rule) -> Result<Vec<String>, Option<String>> {
        let Target::ByField {
            field,
            within,
            within_text,
            watch,
        } = &rule.target
        else {
            return Err(None);
        };
        if r.value.contains("${") {
            return Err(Some("contains a placeholder".to_owned()));
        }
        let rule_id = r.rule;
        if !self.field_indexes.contains_key(&rule_id) {
            for w in watch {
                self.watched.push((w.clone(), true));
            }
            let mut fi = FieldIndex::default();
            let index = self.index;
            for path in index.files.iter().filter(|p| within.is_match(p.as_str())) {
                match self.doc(path, false) {
                    Doc::Parsed(Value::Mapping(map)) => {
                        if let Some(v) = map.get(field.as_str()).and_then(scalar) {
                            fi.by_value.entry(v).or_default().push(path.clone());
                        }
                    }
                    Doc::Failed(_) => {
                        let name = path.rsplit('/').next().unwrap_or(path);
                        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
                        fi.by_stem
                            .entry(stem.to_owned())
                            .or_default()
                            .push(path.clone());
                    }
                    _ => {}
                }
            }
            self.field_indexes.insert(rule_id, fi);
        }
        let fi = self
            .field_indexes
            .get(&rule_id)
            .expect("inserted above when it was missing");
        fi.by_value
            .get(&r.value)
            .or_else(|| fi.by_stem.get(&r.value))
            .cloned()
            .ok_or_else(|| Some(format!("no {field}: {} in {within_text}", r.value)))
    }

    fn lookup(&mut self, segs: &[Seg]) -> Vec<String> {
        let prefix_len = segs.iter().take_while(|s| matches!(s, Seg::Lit(_))).count();
        if prefix_len == segs.len() {
            let path = render_segs(segs);
            self.watched.push((parent(&path).to_owned(), false));
            return if self.index.files.contains(&path) {
                vec![path]
            } else {
                Vec::new()
            };
        }
        let mut prefix = render_segs(&segs[..prefix_len]);
        self.watched.push((prefix.clone(), true));
        if !prefix.is_empty() {
            prefix.push('/');
        }
        self.index
            .files
            .range(prefix.clone()..)
            .take_while(|p| p.starts_with(&prefix))
            .filter(|p| segs_match(segs, &p.split('/').collect::<Vec<_>>()))
            .cloned()
            .collect()
    }
}

pub(crate) fn run(
    root: &Path,
    workflow: Option<&str>,
    options: &Options,
    cache: Option<&Cache>,
) -> Result<(Arc<Closure>, Checked), Error> {
    let selection = match workflow {
        Some(_) => options.strategy.selection(),
        None => crate::Strategy::Tree.selection(),
    };
    let patterns = exclude_patterns(options);
    let canon_root = open_root(root)?;
    // The same analysis over the same lists of files and the same parsed files gives the same
    // closure: a kept one is checked against the folders it consulted and the files it parsed.
    if let (Some(cache), Some(w)) = (cache, workflow)
        && let Some((hit, files)) = cache.result(root, w, options)
    {
        let checked = Checked {
            canonical_root: canon_root,
            folders_real: true,
            files,
        };
        return Ok((hit, checked));
    }
    let (index, walk) = walk_cached(root, &canon_root, cache)?;
    // Only an analysis over a walk that met no symlink (whose target could change unseen) and
    // no problem is kept.
    let remember = match (cache, workflow, walk) {
        (Some(cache), Some(w), Some(walk)) => Some((cache, w, walk)),
        _ => None,
    };
    let excludes = exclude_set(&patterns)?;
    let profile = &options.profile;
    let workflow = match workflow {
        Some(w) => Some(check_workflow(root, &canon_root, &index, w)?),
        None => None,
    };
    if let Some(w) = &workflow
        && let Some(&i) = excludes.matches(w.as_str()).first()
    {
        return Err(Error::WorkflowExcluded {
            path: w.clone(),
            pattern: patterns[i].clone(),
        });
    }

    let mut analysis = Analysis::new(root, profile, &index, cache);
    analysis.start(workflow.as_deref(), &selection);
    let selected = analysis.select(workflow.as_deref(), &selection, &excludes);
    let closure = Arc::new(analysis.closure(workflow, selected, &selection, options.hints));
    if let Some((cache, w, walk)) = remember {
        let read: Vec<(PathBuf, String, Arc<Doc>)> = analysis
            .docs
            .iter()
            .filter(|(_, d)| !matches!(d.as_ref(), Doc::Skipped))
            .map(|(rel, d)| (root.join(rel), rel.clone(), d.clone()))
            .collect();
        cache.keep_result(root, w, options, &walk, &analysis.watched, &read, &closure);
    }
    let checked = Checked {
        canonical_root: canon_root,
        folders_real: false,
        files: Vec::new(),
    };
    Ok((closure, checked))
}

/// The exclude globs of `options` and of a custom strategy, sorted, each once.
fn exclude_patterns(options: &Options) -> Vec<String> {
    let mut patterns = options.excludes.clone();
    if let crate::Strategy::Custom(c) = &options.strategy {
        patterns.extend(c.exclude.iter().cloned());
    }
    patterns.sort();
    patterns.dedup();
    patterns
}

/// The phases of [`run`] after the worklist's set-up: what the strategy keeps and the closure
/// reported over it.
impl Analysis<'_> {
    /// Runs the worklist from the workflow (and the profile's globals, when the strategy keeps
    /// them), noting the folders whose lists of files the result depends on.
    fn start(&mut self, workflow: Option<&str>, selection: &Selection<'_>) {
        let mut roots: Vec<String> = workflow.iter().map(|w| w.to_string()).collect();
        if selection.globals && workflow.is_some() {
            let profile = self.rules();
            roots.extend(
                profile
                    .globals
                    .iter()
                    .filter(|g| self.index.files.contains(*g))
                    .cloned(),
            );
            for g in &profile.globals {
                self.watched.push((parent(g).to_owned(), false));
            }
        }
        if let Some(w) = workflow {
            self.watched.push((parent(w).to_owned(), false));
        }
        if selection.tree {
            self.watched.push((String::new(), true));
        }
        self.run(&roots);
    }

    /// The kind of `path`: the workflow's, else the profile's.
    fn kind_of(&self, workflow: Option<&str>, path: &str) -> FileKind {
        if workflow == Some(path) {
            FileKind::Workflow
        } else {
            self.profile.kind_of(path)
        }
    }

    /// The files the strategy keeps, less the excluded ones.
    fn select(
        &self,
        workflow: Option<&str>,
        selection: &Selection<'_>,
        excludes: &GlobSet,
    ) -> BTreeSet<String> {
        let mut selected: BTreeSet<String> = if selection.root_only {
            workflow.iter().map(|w| w.to_string()).collect()
        } else {
            self.reached
                .iter()
                .filter(|p| {
                    workflow == Some(p.as_str())
                        || selection
                            .kinds
                            .is_none_or(|ks| ks.contains(&self.kind_of(workflow, p)))
                })
                .cloned()
                .collect()
        };
        if selection.tree {
            selected.extend(self.index.files.iter().cloned());
        }
        selected.retain(|p| !excludes.is_match(p.as_str()));
        selected
    }

    /// The closure over the `selected` files: what the analysis found of them.
    fn closure(
        &mut self,
        workflow: Option<String>,
        selected: BTreeSet<String>,
        selection: &Selection<'_>,
        hints: bool,
    ) -> Closure {
        // Parse errors of the files the analysis read. The tree strategy's files beyond the
        // analysis (all of them without a workflow) are payload only and stay unread: a tree
        // backup reads each file once, to hash and store it, and parses none.
        let parse_errors: Vec<_> = selected
            .iter()
            .filter(|p| self.reached.contains(*p))
            .filter_map(|p| match self.docs.get(p).map(|d| d.as_ref()) {
                Some(Doc::Failed(e)) => Some(e.clone()),
                _ => None,
            })
            .collect();

        let cycles: Vec<Vec<String>> = find_cycles(&self.edges, &self.reached)
            .into_iter()
            .filter(|c| c.iter().all(|p| selected.contains(p)))
            .collect();

        let mut edges: Vec<Edge> = std::mem::take(&mut self.edges)
            .into_iter()
            .filter(|e| selected.contains(&e.to))
            .collect();
        edges.sort();
        edges.dedup();
        let mut via: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, e) in edges.iter().enumerate() {
            via.entry(e.to.as_str()).or_default().push(i);
        }
        let files = selected
            .iter()
            .map(|p| FileEntry {
                path: p.clone(),
                kind: self.kind_of(workflow.as_deref(), p),
                via: via.get(p.as_str()).cloned().unwrap_or_default(),
            })
            .collect();

        let mut unresolved: Vec<Unresolved> = std::mem::take(&mut self.unresolved)
            .into_iter()
            .filter(|u| selected.contains(&u.from))
            .collect();
        if selection.tree {
            unresolved.extend(self.index.problems.iter().cloned());
        }
        unresolved.sort();
        unresolved.dedup();

        let workflow_error = workflow
            .as_deref()
            .and_then(|w| parse_errors.iter().find(|p| p.path == w))
            .cloned();
        let mut dropped: Vec<Dropped> = std::mem::take(&mut self.dropped)
            .into_iter()
            .filter(|d| selected.contains(&d.path))
            .collect();
        dropped.sort();
        let hints = if workflow.is_some() && hints {
            self.hints(&selected, &dropped)
        } else {
            Vec::new()
        };
        Closure {
            workflow,
            workflow_error,
            dropped,
            hints,
            files,
            edges,
            unresolved,
            parse_errors,
            cycles,
        }
    }

    /// The hints of the `selected` files the analysis read (those whose references were
    /// `dropped` aside): string values no rule took that name a file.
    fn hints(&mut self, selected: &BTreeSet<String>, dropped: &[Dropped]) -> Vec<Hint> {
        // A hint may name any file under the root, so the result now depends on every folder.
        self.watched.push((String::new(), true));
        let profile = self.rules();
        let hint_index = HintIndex::new(&self.index.files, |p| profile.parse.is_match(p));
        let in_closure = |p: &str| selected.contains(p);
        let no_keys = HashSet::new();
        let mut hints = Vec::new();
        for path in selected.iter().filter(|p| self.reached.contains(*p)) {
            if dropped.iter().any(|d| &d.path == path) {
                continue;
            }
            if let Some(Doc::Parsed(v)) = self.docs.get(path).map(|d| d.as_ref()) {
                let followed = self.followed.get(path).unwrap_or(&no_keys);
                hints.extend(hints_in(
                    path,
                    v,
                    followed,
                    &profile.not_references,
                    &hint_index,
                    &in_closure,
                ));
            }
        }
        hints.sort();
        hints
    }
}
