//! Candidate path templates (`{dir}/{value}.yaml`, `llms/provider/*/{value}.yaml`) expanded
//! into segments, matched against the walk's files, and lexical path normalization.

/// One segment of an expanded template: a literal name, `*` (one name) or `**` (any number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Lit(String),
    One,
    Any,
}

/// The segments written back as a `/`-separated pattern.
pub(crate) fn render_segs(segs: &[Seg]) -> String {
    segs.iter()
        .map(|s| match s {
            Seg::Lit(l) => l.as_str(),
            Seg::One => "*",
            Seg::Any => "**",
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Expands a candidate template lexically; `None` when `..` climbs above the root. The value is
/// always literal: a `*` in it matches only a file really named `*`.
pub(crate) fn expand(
    template: &str,
    dir: &[&str],
    value: &str,
    fields: &[(String, String)],
) -> Option<Vec<Seg>> {
    let mut raw: Vec<Seg> = Vec::new();
    for part in template.split('/') {
        match part {
            "{dir}" => raw.extend(dir.iter().map(|d| Seg::Lit((*d).to_owned()))),
            "*" => raw.push(Seg::One),
            "**" => raw.push(Seg::Any),
            field if field.starts_with("{field:") => {
                let name = &field["{field:".len()..field.len() - 1];
                if let Some((_, v)) = fields.iter().find(|(n, _)| n == name) {
                    raw.extend(v.split('/').map(|s| Seg::Lit(s.to_owned())));
                }
            }
            lit => {
                let text = lit.replace("{value}", value);
                raw.extend(text.split('/').map(|s| Seg::Lit(s.to_owned())));
            }
        }
    }
    let mut out: Vec<Seg> = Vec::new();
    for seg in raw {
        match &seg {
            Seg::Lit(s) if s.is_empty() || s == "." => {}
            Seg::Lit(s) if s == ".." => {
                out.pop()?;
            }
            _ => out.push(seg),
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

impl crate::wildcard::Wildcard<&str> for Seg {
    fn is_any(&self) -> bool {
        *self == Seg::Any
    }

    fn accepts(&self, seg: &&str) -> bool {
        match self {
            Seg::One => true,
            Seg::Lit(l) => l == seg,
            Seg::Any => false,
        }
    }
}

/// Whether `path` (its names) matches the pattern `pat`.
pub(crate) fn segs_match(pat: &[Seg], path: &[&str]) -> bool {
    crate::wildcard::wildcard_match(pat, path)
}

/// Normalizes a relative `/`-separated path lexically; `None` if absolute or climbing out.
pub(crate) fn normalize(rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.starts_with('\\') || has_drive(rel) || rel.contains('\0') {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in rel.split('/') {
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

/// Whether `v` starts with a drive letter (`C:`), an absolute path on Windows.
pub(crate) fn has_drive(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn expand_templates() {
        let dir = ["llms", "provider", "x"];
        let e = |t: &str, v: &str| expand(t, &dir, v, &[]).map(|s| render_segs(&s));
        assert_eq!(
            e("{dir}/{value}", "common.yaml").as_deref(),
            Some("llms/provider/x/common.yaml")
        );
        assert_eq!(
            e("{dir}/{value}", "../common.yaml").as_deref(),
            Some("llms/provider/common.yaml")
        );
        assert_eq!(e("{dir}/{value}", "../../../../etc/passwd"), None);
        assert_eq!(
            e("llms/provider/*/{value}.yaml", "a").as_deref(),
            Some("llms/provider/*/a.yaml")
        );
        assert_eq!(
            expand("{dir}/{value}", &[], "a/./b", &[])
                .map(|s| render_segs(&s))
                .as_deref(),
            Some("a/b")
        );
    }

    #[test]
    fn segment_matching() {
        let m = |p: &str, path: &str| {
            let segs = expand(p, &[], "", &[]).unwrap();
            segs_match(&segs, &path.split('/').collect::<Vec<_>>())
        };
        assert!(m("llms/provider/*/a.yaml", "llms/provider/openai/a.yaml"));
        assert!(!m("llms/provider/*/a.yaml", "llms/provider/a.yaml"));
        assert!(m("tools/**", "tools/rest/x.yaml"));
        assert!(m("**/x.yaml", "x.yaml"));
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(
            normalize("./workflows//a.yaml").as_deref(),
            Some("workflows/a.yaml")
        );
        assert_eq!(normalize("../a.yaml"), None);
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../../b"), None);
    }
}
