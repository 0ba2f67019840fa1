//! Segment-wise wildcard matching, shared by key-path patterns (`nodes.*.config.llm_client`)
//! and path templates (`llms/provider/*/NAME.yaml`).

/// One segment of a pattern, as the matcher sees it.
pub(crate) trait Wildcard<S: ?Sized> {
    /// Whether this is `**`: any number of segments, none included.
    fn is_any(&self) -> bool;
    /// Whether this (a `*` or a literal) accepts exactly the segment `seg`.
    fn accepts(&self, seg: &S) -> bool;
}

/// Matching with one backtrack point for `**`: linear in practice and never recursive.
pub(crate) fn wildcard_match<P: Wildcard<S>, S>(pat: &[P], path: &[S]) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while s < path.len() {
        match pat.get(p) {
            Some(seg) if seg.is_any() => {
                star = Some((p, s));
                p += 1;
            }
            Some(seg) if seg.accepts(&path[s]) => {
                p += 1;
                s += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    p = sp + 1;
                    s = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(Wildcard::is_any)
}
