#!/usr/bin/env python3
"""Reports module dependency cycles inside each crate of the workspace (non-test code):
issue #19 asks for none, and .ci/run keeps it so.

Every .rs file under crates/*/src is a module. A reference `crate::a::b::Name`, `super::x` or
`self::x` is an edge to the deepest module it names; a name re-exported with `pub use` (in
lib.rs or a mod.rs) is followed to the module that defines it. `mod x;` and `pub use`
declarations themselves are not edges. Code after `#[cfg(test)]` is ignored.
Usage: modcycles.py [REPO]; exit 1 if any cycle."""
import os, re, sys

def strip(text):
    m = re.search(r"#\[cfg\(test\)\]", text)
    text = text[: m.start()] if m else text
    text = re.sub(r"//[^\n]*", "", text)
    return text

def use_paths(stmt):
    """Expand a use tree 'a::{b, c::{d, e}}' into paths."""
    stmt = re.sub(r"\s+", "", stmt)
    def expand(s):
        i = s.find("{")
        if i < 0:
            return [s]
        prefix, body = s[:i], s[i + 1 : s.rfind("}")]
        parts, depth, cur = [], 0, ""
        for ch in body:
            if ch == "," and depth == 0:
                parts.append(cur); cur = ""
                continue
            depth += ch == "{"; depth -= ch == "}"
            cur += ch
        parts.append(cur)
        out = []
        for p in parts:
            if p:
                out += [prefix + q for q in expand(p)]
        return out
    return [re.sub(r"as\w+$", "", p) for p in expand(stmt)]

bad = 0
repo = sys.argv[1] if len(sys.argv) > 1 else "."
for crate in sorted(os.listdir(os.path.join(repo, "crates"))):
    src = os.path.join(repo, "crates", crate, "src")
    if not os.path.isdir(src):
        continue
    mods = {}
    for dp, _, fs in os.walk(src):
        for f in fs:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dp, f), src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            if rel and rel[0] in ("tests", "testing"):
                continue
            mods[tuple(rel)] = strip(open(os.path.join(dp, f)).read())
    # re-exports: (module, name) -> target module path
    reexp = {}
    for m, text in mods.items():
        for st in re.findall(r"pub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for p in use_paths(st):
                segs = p.split("::")
                reexp[(m, segs[-1])] = (m, segs)
    def resolve(cur, segs):
        # returns deepest module tuple for a path (segments without the final item ok)
        if not segs:
            return None
        if segs[0] == "crate":
            base, rest = (), segs[1:]
        elif segs[0] == "super":
            base, rest = cur[:-1], segs[1:]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        elif segs[0] == "self":
            base, rest = cur, segs[1:]
        else:
            return None
        m = base
        for i, s in enumerate(rest):
            if m + (s,) in mods:
                m = m + (s,)
            else:
                # maybe a re-exported name in module m
                key = (m, s)
                seen = 0
                while key in reexp and seen < 10:
                    rm, rsegs = reexp[key]
                    t = resolve(rm, rsegs[:-1]) if rsegs[0] in ("crate", "super", "self") else (rm + tuple(rsegs[:-1]) if rm + tuple(rsegs[:-1]) in mods else None)
                    if t is None:
                        break
                    key2 = (t, rsegs[-1])
                    if t + (rsegs[-1],) in mods:
                        return t + (rsegs[-1],)
                    m = t
                    key = key2
                    seen += 1
                break
        return m
    edges = {m: set() for m in mods}
    for m, text in mods.items():
        body = re.sub(r"pub(?:\([^)]*\))?\s+use\s+[^;]+;", "", text)
        body = re.sub(r"\b(pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*;", "", body)
        paths = []
        for st in re.findall(r"\buse\s+([^;]+);", body):
            paths += use_paths(st)
        body2 = re.sub(r"\buse\s+[^;]+;", "", body)
        paths += re.findall(r"\b(?:crate|super|self)(?:::\w+)+", body2)
        for p in paths:
            segs = p.split("::")
            t = resolve(m, segs)
            # An edge to an ancestor (e.g. lib.rs) is not counted: parents declare children.
            if t is not None and t != m and t != m[: len(t)]:
                edges[m].add(t)
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def strong(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                strong(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(edges):
        if v not in index:
            strong(v)
    name = lambda t: "::".join(t) or "crate"
    for comp in out:
        bad = 1
        cs = set(comp)
        print(f"{crate}: cycle among {[name(c) for c in comp]}")
        for a in comp:
            print(f"    {name(a)} -> {[name(b) for b in sorted(edges[a] & cs)]}")
sys.exit(bad)
