//! A profile: the data that says which YAML keys hold references and how a value maps to files.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use globset::{Candidate, Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::{Error, FileKind};

const BUILTIN_YAML: &str = include_str!("builtin.yaml");

/// How references are found and resolved for one framework's layout.
///
/// A profile is a list of rules written in YAML; [`Profile::builtin`] is the agent framework's
/// `configs/` layout (its source is `src/builtin.yaml` in this crate, the reference for the
/// format). Each rule names the key paths holding references (`keys:`, dot-separated, `*` = one
/// segment, `**` = any number, a list at a matched key contributes each element) or an
/// `implicit:` value, optionally limits the files it applies to (`from:` globs), and resolves the
/// value in exactly one way:
/// - `candidates:` path templates tried in order (`{dir}` = the referencing file's folder,
///   `{value}` = the value, `*`/`**` whole-segment wildcards); the first template with a match
///   wins, with `ancestors: true` retried from each ancestor folder, `default_suffix:` appended
///   to values without one, `check_key: value|fragment` checking a top-level key of the target;
/// - `by_field: FIELD` + `within:` globs: files whose top-level FIELD equals the value (files that
///   do not parse are matched by file stem instead);
/// - `all:` globs (minus `except:`): every such file, whatever the value;
/// - `registry:` a lookup in a registry file: `file:` (root-relative) holds the entry at the
///   key path `entry:` (`{name}` = the value); its field `file_field:` names the file meant,
///   relative to `relative_to:` (root-relative; default the registry's folder), and an entry
///   without that field is defined in the registry itself. The registry joins the closure.
///
/// A candidate template may also name `{field:NAME}`: the value of key NAME in the mapping that
/// holds the reference (empty when absent), e.g. a registry entry's `config_directory`.
/// `subkey: true` reads a value `NAME.SUBKEY` as the name NAME whose target must have the
/// top-level key SUBKEY (a value without `.` is a plain name).
///
/// `not_references:` lists key paths (same patterns as `keys:`) whose values look like
/// references but are not (a node's name, a tag): they are never reported as hints.
///
/// Cloning is cheap (the parsed and compiled rules are shared): every backup's options carry
/// one. A profile read from YAML is compiled whole when it is read, so every error in it
/// surfaces there; the built-in one compiles its `kinds` when first asked for and the rest only
/// when an analysis first follows references (an analysis without a workflow never does).
#[derive(Debug, Clone)]
pub struct Profile(Arc<Parsed>);

#[derive(Debug)]
struct Parsed {
    spec: ProfileSpec,
    /// The file kinds in order (first match wins): all an analysis without a workflow uses.
    kinds: Vec<(FileKind, GlobMatcher)>,
    /// Everything else: set when a profile is read from YAML, on first use for the built-in
    /// one.
    compiled: OnceLock<Compiled>,
}

impl PartialEq for Profile {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.spec == other.0.spec
    }
}

impl Eq for Profile {}

impl Default for Profile {
    fn default() -> Self {
        Profile::builtin()
    }
}

impl Profile {
    /// The agent framework's layout (design.md section 5).
    pub fn builtin() -> Profile {
        static BUILTIN: OnceLock<Profile> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Profile::parse(BUILTIN_YAML, "built-in profile", false)
                    .expect("the built-in profile is checked by a unit test")
            })
            .clone()
    }

    /// Reads a profile from YAML text.
    pub fn from_yaml_str(yaml: &str) -> Result<Profile, Error> {
        Profile::parse(yaml, "profile string", true)
    }

    /// Reads a profile from a YAML file.
    pub fn load(path: impl AsRef<Path>) -> Result<Profile, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            action: "read profile",
            path: path.to_owned(),
            source,
        })?;
        Profile::parse(&text, &format!("profile file '{}'", path.display()), true)
    }

    /// The profile's `name:`.
    pub fn name(&self) -> &str {
        &self.0.spec.name
    }

    /// The kind of the file at root-relative `path`: the first of the profile's `kinds` that
    /// matches, else [`FileKind::Other`].
    pub(crate) fn kind_of(&self, path: &str) -> FileKind {
        let candidate = Candidate::new(path);
        self.0
            .kinds
            .iter()
            .find(|(_, m)| m.is_match_candidate(&candidate))
            .map_or(FileKind::Other, |(k, _)| *k)
    }

    /// The rules and globs beyond the kinds, compiled on first use.
    pub(crate) fn compiled(&self) -> &Compiled {
        self.0.compiled.get_or_init(|| {
            compile(&self.0.spec).expect(
                "a profile read from YAML is compiled when read; the built-in one is checked \
                 by a unit test",
            )
        })
    }

    /// Parses `yaml` and compiles its kinds; the rest now when `eager`, else on first use.
    fn parse(yaml: &str, origin: &str, eager: bool) -> Result<Profile, Error> {
        let err = |message: String| Error::Profile {
            origin: origin.to_owned(),
            message,
        };
        let spec: ProfileSpec = serde_yaml::from_str(yaml).map_err(|e| err(e.to_string()))?;
        let kinds = compile_kinds(&spec).map_err(err)?;
        let compiled = if eager {
            OnceLock::from(compile(&spec).map_err(err)?)
        } else {
            OnceLock::new()
        };
        Ok(Profile(Arc::new(Parsed {
            spec,
            kinds,
            compiled,
        })))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileSpec {
    name: String,
    #[serde(default = "default_parse")]
    parse: Vec<String>,
    #[serde(default)]
    globals: Vec<String>,
    #[serde(default)]
    kinds: Vec<KindSpec>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    not_references: Vec<String>,
}

fn default_parse() -> Vec<String> {
    vec!["**/*.yaml".to_owned(), "**/*.yml".to_owned()]
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindSpec {
    kind: String,
    path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    #[serde(default)]
    from: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
    implicit: Option<String>,
    candidates: Option<Vec<String>>,
    #[serde(default)]
    ancestors: bool,
    default_suffix: Option<String>,
    check_key: Option<String>,
    #[serde(default)]
    optional: bool,
    by_field: Option<String>,
    #[serde(default)]
    within: Vec<String>,
    all: Option<Vec<String>>,
    #[serde(default)]
    except: Vec<String>,
    registry: Option<RegistrySpec>,
    #[serde(default)]
    subkey: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrySpec {
    file: String,
    entry: String,
    file_field: String,
    relative_to: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) parse: GlobSet,
    pub(crate) globals: Vec<String>,
    pub(crate) rules: Vec<Rule>,
    /// Key paths whose values are documented non-references: never hints.
    pub(crate) not_references: Vec<KeyPattern>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) name: String,
    /// `None` = every parsed file.
    pub(crate) from: Option<GlobSet>,
    pub(crate) keys: Vec<KeyPattern>,
    pub(crate) implicit: Option<String>,
    /// Values are `NAME.SUBKEY`: NAME is resolved, SUBKEY checked as a key of the target.
    pub(crate) subkey: bool,
    pub(crate) target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckKey {
    Value,
    Fragment,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Paths {
        candidates: Vec<String>,
        ancestors: bool,
        default_suffix: Option<String>,
        check_key: Option<CheckKey>,
        optional: bool,
        /// The `{field:NAME}` names the templates use, read from the reference's mapping.
        fields: Vec<String>,
    },
    Registry {
        /// Root-relative path of the registry file.
        file: String,
        /// Key path of the entry; a segment `{name}` is the reference's name.
        entry: Vec<String>,
        /// The entry's field naming the file; an entry without it is defined inline.
        file_field: String,
        /// Root-relative folder the entry's path is relative to.
        relative_to: String,
    },
    ByField {
        field: String,
        within: GlobSet,
        within_text: String,
        /// The folders (relative, `""` for the root) under which `within` can match.
        watch: Vec<String>,
    },
    All {
        include: GlobSet,
        except: GlobSet,
        /// The folders under which `include` can match.
        watch: Vec<String>,
    },
}

/// The folder under which every path `pattern` matches lies: its leading segments free of
/// glob syntax, less the last segment of a pattern that has none (a file name).
pub(crate) fn literal_dir(pattern: &str) -> String {
    let segs: Vec<&str> = pattern.split('/').collect();
    let literal = |s: &&&str| !s.contains(['*', '?', '[', ']', '{', '}', '\\', '!']);
    let mut n = segs.iter().take_while(literal).count();
    if n == segs.len() {
        n -= 1;
    }
    segs[..n].join("/")
}

/// Profile globs are anchored at the root and `*` stops at `/`, like path templates.
pub(crate) fn anchored_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

fn glob_set(patterns: &[String], what: &str) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(anchored_glob(p).map_err(|e| format!("{what}: invalid glob '{p}': {e}"))?);
    }
    b.build().map_err(|e| format!("{what}: {e}"))
}

fn compile_kinds(spec: &ProfileSpec) -> Result<Vec<(FileKind, GlobMatcher)>, String> {
    let mut kinds = Vec::new();
    for k in &spec.kinds {
        let kind: FileKind = k.kind.parse().map_err(|e: Error| format!("kinds: {e}"))?;
        let m = anchored_glob(&k.path)
            .map_err(|e| format!("kinds: invalid glob '{}': {e}", k.path))?
            .compile_matcher();
        kinds.push((kind, m));
    }
    Ok(kinds)
}

fn compile(spec: &ProfileSpec) -> Result<Compiled, String> {
    let parse = glob_set(&spec.parse, "parse")?;
    let mut rules = Vec::new();
    for r in &spec.rules {
        rules.push(compile_rule(r).map_err(|m| format!("rule '{}': {m}", r.name))?);
    }
    let not_references = spec
        .not_references
        .iter()
        .map(|k| KeyPattern::parse(k).map_err(|e| format!("not_references: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Compiled {
        parse,
        globals: spec.globals.clone(),
        rules,
        not_references,
    })
}

fn compile_rule(r: &RuleSpec) -> Result<Rule, String> {
    if r.keys.is_empty() == r.implicit.is_none() {
        return Err("needs exactly one of keys and implicit".to_owned());
    }
    let from = if r.from.is_empty() {
        None
    } else {
        Some(glob_set(&r.from, "from")?)
    };
    let keys = r
        .keys
        .iter()
        .map(|k| KeyPattern::parse(k))
        .collect::<Result<Vec<_>, _>>()?;
    let modes = [
        r.candidates.is_some(),
        r.by_field.is_some(),
        r.all.is_some(),
        r.registry.is_some(),
    ];
    if modes.iter().filter(|m| **m).count() != 1 {
        return Err("needs exactly one of candidates, by_field, all and registry".to_owned());
    }
    if r.subkey && r.by_field.is_some() {
        return Err("subkey needs candidates or registry".to_owned());
    }
    let target = if let Some(candidates) = &r.candidates {
        if candidates.is_empty() {
            return Err("candidates is empty".to_owned());
        }
        for c in candidates {
            check_template(c)?;
        }
        let check_key = match r.check_key.as_deref() {
            None => None,
            Some("value") => Some(CheckKey::Value),
            Some("fragment") => Some(CheckKey::Fragment),
            Some(other) => {
                return Err(format!(
                    "check_key is '{other}', expected 'value' or 'fragment'"
                ));
            }
        };
        let mut fields: Vec<String> = candidates.iter().flat_map(|c| template_fields(c)).collect();
        fields.sort();
        fields.dedup();
        Target::Paths {
            candidates: candidates.clone(),
            ancestors: r.ancestors,
            default_suffix: r.default_suffix.clone(),
            check_key,
            optional: r.optional,
            fields,
        }
    } else if let Some(reg) = &r.registry {
        let file = normalize_spec_path(&reg.file)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| format!("registry file '{}' is not a path under the root", reg.file))?;
        let entry: Vec<String> = reg.entry.split('.').map(str::to_owned).collect();
        if entry.iter().any(String::is_empty) || !entry.iter().any(|s| s == "{name}") {
            return Err(format!(
                "registry entry '{}' needs non-empty segments and a {{name}} segment",
                reg.entry
            ));
        }
        let relative_to = match &reg.relative_to {
            Some(d) => normalize_spec_path(d)
                .ok_or_else(|| format!("relative_to '{d}' is not a folder under the root"))?,
            None => file.rsplit_once('/').map_or("", |(d, _)| d).to_owned(),
        };
        Target::Registry {
            file,
            entry,
            file_field: reg.file_field.clone(),
            relative_to,
        }
    } else if let Some(field) = &r.by_field {
        if r.within.is_empty() {
            return Err("by_field needs within".to_owned());
        }
        Target::ByField {
            field: field.clone(),
            within: glob_set(&r.within, "within")?,
            within_text: r.within.join(", "),
            watch: r.within.iter().map(|p| literal_dir(p)).collect(),
        }
    } else {
        let include = r.all.as_deref().unwrap_or_default();
        Target::All {
            include: glob_set(include, "all")?,
            except: glob_set(&r.except, "except")?,
            watch: include.iter().map(|p| literal_dir(p)).collect(),
        }
    };
    Ok(Rule {
        name: r.name.clone(),
        from,
        keys,
        implicit: r.implicit.clone(),
        subkey: r.subkey,
        target,
    })
}

/// A root-relative path written in a profile, normalized; `None` if it climbs out.
fn normalize_spec_path(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.trim_start_matches('/').split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(out.join("/"))
}

/// The NAMEs of a template's `{field:NAME}` segments.
pub(crate) fn template_fields(t: &str) -> Vec<String> {
    t.split('/')
        .filter_map(|seg| seg.strip_prefix("{field:")?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

fn check_template(t: &str) -> Result<(), String> {
    for seg in t.split('/') {
        let wild = seg.contains('*');
        if wild && seg != "*" && seg != "**" {
            return Err(format!("candidate '{t}': wildcards must be whole segments"));
        }
        if seg.contains("{dir}") && seg != "{dir}" {
            return Err(format!("candidate '{t}': {{dir}} must be a whole segment"));
        }
        if seg.contains("{field:") && !(seg.starts_with("{field:") && seg.ends_with('}')) {
            return Err(format!(
                "candidate '{t}': {{field:NAME}} must be a whole segment"
            ));
        }
    }
    Ok(())
}

/// One segment of a YAML location: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathSeg {
    Key(String),
    Index(usize),
}

/// Renders `a.b[0].c`.
pub(crate) fn render_key_path(path: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            PathSeg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySeg {
    Lit(String),
    One,
    Any,
}

impl crate::wildcard::Wildcard<PathSeg> for KeySeg {
    fn is_any(&self) -> bool {
        *self == KeySeg::Any
    }

    fn accepts(&self, seg: &PathSeg) -> bool {
        match self {
            KeySeg::One => true,
            KeySeg::Lit(l) => matches!(seg, PathSeg::Key(k) if k == l),
            KeySeg::Any => false,
        }
    }
}

/// A dot-separated key path pattern: `*` matches one segment (key or index), `**` any number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPattern(Vec<KeySeg>);

impl KeyPattern {
    fn parse(s: &str) -> Result<KeyPattern, String> {
        if s.is_empty() {
            return Err("empty key pattern".to_owned());
        }
        let segs = s
            .split('.')
            .map(|p| match p {
                "" => Err(format!("key pattern '{s}' has an empty segment")),
                "*" => Ok(KeySeg::One),
                "**" => Ok(KeySeg::Any),
                lit => Ok(KeySeg::Lit(lit.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeyPattern(segs))
    }

    /// Whether `path` matches, `*` standing for one segment and `**` for any number.
    pub(crate) fn matches(&self, path: &[PathSeg]) -> bool {
        crate::wildcard::wildcard_match(&self.0, path)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(path: &str) -> Vec<PathSeg> {
        path.split('.')
            .map(|s| match s.parse::<usize>() {
                Ok(i) => PathSeg::Index(i),
                Err(_) => PathSeg::Key(s.to_owned()),
            })
            .collect()
    }

    #[test]
    fn builtin_profile_compiles() {
        let p = Profile::parse(BUILTIN_YAML, "built-in", true).unwrap();
        assert_eq!(p.name(), "builtin");
        assert_eq!(Profile::builtin(), p);
    }

    #[test]
    fn a_tree_analysis_compiles_only_the_kinds() {
        use crate::{Options, resolve, resolve_tree};
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/closure/basic/configs");
        let lazy = Profile::parse(BUILTIN_YAML, "built-in", false).unwrap();
        let eager = Profile::parse(BUILTIN_YAML, "built-in", true).unwrap();
        let tree = resolve_tree(&root, &Options::new().profile(lazy.clone())).unwrap();
        assert!(lazy.0.compiled.get().is_none());
        assert_eq!(
            tree,
            resolve_tree(&root, &Options::new().profile(eager)).unwrap()
        );
        let kind = |p: &str| tree.files.iter().find(|f| f.path == p).map(|f| f.kind);
        assert_eq!(kind("tools/rest/weather.yaml"), Some(FileKind::Tool));
        assert_eq!(kind("global.yaml"), Some(FileKind::Global));
        let options = Options::new().profile(lazy.clone());
        resolve(&root, "workflows/react.yaml", &options).unwrap();
        assert!(lazy.0.compiled.get().is_some());
    }

    #[test]
    fn key_patterns() {
        let cases = [
            ("**.llm_client", "nodes.a.config.llm_client", true),
            ("**.llm_client", "llm_client", true),
            ("**.llm_client", "llm_client.x", false),
            ("nodes.*.config.agent", "nodes.n.config.agent", true),
            ("nodes.*.config.agent", "nodes.config.agent", false),
            ("*.tools", "tools", false),
            ("*.tools", "g.tools", true),
            (
                "**.config_files.*.file_path",
                "config_files.x.file_path",
                true,
            ),
            ("**.file", "a.0.b.file", true),
            ("**.a.**.b", "x.a.y.z.b", true),
            ("**.a.**.b", "x.a.y.z.c", false),
        ];
        for (pat, path, want) in cases {
            let got = KeyPattern::parse(pat).unwrap().matches(&key(path));
            assert_eq!(got, want, "{pat} vs {path}");
        }
    }

    #[test]
    fn literal_dirs_hold_every_match() {
        for (pattern, dir) in [
            ("tools/**", "tools"),
            ("tool-sets/**", "tool-sets"),
            ("**/_group.yaml", ""),
            ("llms/provider/*/x.yaml", "llms/provider"),
            ("llms/x.yaml", "llms"),
            ("x.yaml", ""),
            ("a/b?/c", "a"),
            ("a/{b,c}/d", "a"),
            ("a/[bc]/d", "a"),
        ] {
            assert_eq!(literal_dir(pattern), dir, "{pattern}");
        }
    }

    #[test]
    fn bad_profiles_name_the_problem() {
        let cases = [
            (
                "name: x\nrules: [{name: r, keys: [a]}]",
                "rule 'r': needs exactly one of candidates",
            ),
            (
                "name: x\nrules: [{name: r, keys: [a], candidates: ['a*/b']}]",
                "wildcards must be whole segments",
            ),
            (
                "name: x\nkinds: [{kind: nope, path: a}]",
                "unknown file kind 'nope'",
            ),
            ("name: x\nbogus: 1", "unknown field `bogus`"),
            (
                "name: x\nrules: [{name: r, keys: ['a..b'], all: [x]}]",
                "empty segment",
            ),
            (
                "name: x\nrules: [{name: r, keys: [a], registry: {file: r.yaml, entry: a.b, file_field: f}}]",
                "needs non-empty segments and a {name} segment",
            ),
            (
                "name: x\nrules: [{name: r, keys: [a], registry: {file: ../r.yaml, entry: '{name}', file_field: f}}]",
                "is not a path under the root",
            ),
            (
                "name: x\nrules: [{name: r, keys: [a], candidates: ['x{field:d}/a']}]",
                "{field:NAME} must be a whole segment",
            ),
        ];
        for (yaml, want) in cases {
            let err = Profile::from_yaml_str(yaml).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
            assert!(err.starts_with("invalid profile (profile string)"), "{err}");
        }
    }
}
