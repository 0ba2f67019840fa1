//! Resource bounds of the closure analysis (issue 7): huge files, deep nesting, alias bombs,
//! 10,000-file inheritance chains. Each must end in a typed error or a bounded report, in
//! bounded time and memory, never an abort — so each runs on a thread with a small (1 MiB)
//! stack, where anything recursing per level or per file would overflow.
//!
//! The huge-file test writes 20 MB by default, 100 MB with `CFGVAULT_LONG=1`.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cfgvault_closure::{Closure, Options, resolve, resolve_tree};
use cfgvault_testkit::long;

fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// Resolves on a 1 MiB stack and checks time; returns the closure.
fn bounded(root: &Path, workflow: &str, limit: Duration) -> Closure {
    let (root, workflow): (PathBuf, String) = (root.to_owned(), workflow.to_owned());
    let start = Instant::now();
    let c = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || resolve(&root, &workflow, &Options::new()).unwrap())
        .unwrap()
        .join()
        .unwrap_or_else(|_| panic!("the analysis panicked"));
    assert!(
        start.elapsed() < limit,
        "took {:?} (limit {limit:?})",
        start.elapsed()
    );
    c
}

#[test]
fn a_huge_yaml_file_is_backed_up_unparsed_in_bounded_memory() {
    let mb = if long() { 100 } else { 20 };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "workflows/w.yaml",
        "llm_client: huge\ntool_sets: [big]\n",
    );
    // A real-looking YAML file: a long list of mappings, each with references.
    let unit = b"- llm_client: gpt4\n  token_counter: t\n  inherits_from: ../x.yaml\n";
    let mut f = fs::File::create(dir.path().join("llms/huge.yaml"))
        .ok()
        .unwrap_or_else(|| {
            fs::create_dir_all(dir.path().join("llms")).unwrap();
            fs::File::create(dir.path().join("llms/huge.yaml")).unwrap()
        });
    let chunk = unit.repeat((1 << 20) / unit.len());
    for _ in 0..mb {
        std::io::Write::write_all(&mut f, &chunk).unwrap();
    }
    drop(f);
    // The same size as the workflow itself.
    fs::copy(
        dir.path().join("llms/huge.yaml"),
        dir.path().join("workflows/huge.yaml"),
    )
    .unwrap();
    let before = peak_rss_mib();
    let c = bounded(dir.path(), "workflows/w.yaml", Duration::from_secs(60));
    assert!(c.contains("llms/huge.yaml"));
    assert!(
        c.parse_errors.iter().any(|e| e.path == "llms/huge.yaml"),
        "{c}"
    );
    let c = bounded(dir.path(), "workflows/huge.yaml", Duration::from_secs(60));
    assert_eq!(c.parse_errors.len(), 1, "{:?}", c.parse_errors);
    assert!(
        c.parse_errors[0].message.starts_with("file is larger than"),
        "{:?}",
        c.parse_errors
    );
    let grew = peak_rss_mib().saturating_sub(before);
    assert!(
        grew < 64,
        "analysing a {mb} MB file grew the peak RSS by {grew} MiB"
    );
}

/// Just under the parse limit, but made of tens of thousands of references: parsed, and
/// each reference reported (deduplicated), in bounded time.
#[test]
fn a_workflow_of_many_references_just_under_the_parse_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = String::from("nodes:\n");
    let mut i = 0;
    let size = if long() { 7 << 20 } else { 2 << 20 };
    while w.len() < size {
        w.push_str(&format!(
            "  n{i}:\n    config:\n      llm_client: m{}\n",
            i % 5000
        ));
        i += 1;
    }
    write(dir.path(), "workflows/w.yaml", &w);
    write(dir.path(), "llms/m1.yaml", "model: x\n");
    let c = bounded(dir.path(), "workflows/w.yaml", Duration::from_secs(120));
    assert!(c.parse_errors.is_empty(), "{:?}", c.parse_errors);
    assert!(c.contains("llms/m1.yaml"));
    // One entry per dangling occurrence: linear in the (bounded) input, never more.
    assert!(
        c.unresolved.len() <= i,
        "{} unresolved for {i} references",
        c.unresolved.len()
    );
}

/// Nesting 10,000 levels in every YAML shape: flow sequences, flow mappings, block mappings,
/// block sequences. Each is a parse error, never a stack overflow.
#[test]
fn nesting_10000_levels_in_every_shape() {
    let dir = tempfile::tempdir().unwrap();
    let n = 10_000;
    write(
        dir.path(),
        "workflows/flow-seq.yaml",
        format!("a: {}{}\n", "[".repeat(n), "]".repeat(n)),
    );
    write(
        dir.path(),
        "workflows/flow-map.yaml",
        format!("a: {}{}\n", "{a: ".repeat(n), "}".repeat(n)),
    );
    let mut block_map = String::new();
    let mut block_seq = String::new();
    for level in 0..n {
        block_map.push_str(&" ".repeat(level));
        block_map.push_str("k:\n");
        block_seq.push_str(&" ".repeat(level));
        block_seq.push_str("- \n");
    }
    write(dir.path(), "workflows/block-map.yaml", &block_map);
    write(dir.path(), "workflows/block-seq.yaml", &block_seq);
    // A shallow workflow inheriting a deep file: the deep one is reported, the walk goes on.
    write(
        dir.path(),
        "workflows/inherits.yaml",
        "inherits_from: [flow-seq, flow-map, block-map, block-seq]\n",
    );
    for w in ["flow-seq", "flow-map", "block-map", "block-seq"] {
        let c = bounded(
            dir.path(),
            &format!("workflows/{w}.yaml"),
            Duration::from_secs(60),
        );
        assert_eq!(c.parse_errors.len(), 1, "{w}: {:?}", c.parse_errors);
    }
    let c = bounded(
        dir.path(),
        "workflows/inherits.yaml",
        Duration::from_secs(60),
    );
    assert_eq!(c.files.len(), 5, "{c}");
    assert_eq!(c.parse_errors.len(), 4, "{:?}", c.parse_errors);
}

/// The "billion laughs": aliases that expand exponentially. Bounded time and memory.
#[test]
fn an_alias_bomb_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a0: &a0 [llm_client, llm_client, llm_client, llm_client]\n");
    for i in 1..40 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("nodes:\n  n:\n    config: *a39\n");
    write(dir.path(), "workflows/bomb.yaml", &bomb);
    let before = peak_rss_mib();
    let c = bounded(dir.path(), "workflows/bomb.yaml", Duration::from_secs(30));
    assert!(c.contains("workflows/bomb.yaml"));
    let grew = peak_rss_mib().saturating_sub(before);
    assert!(grew < 256, "an alias bomb grew the peak RSS by {grew} MiB");
}

/// A linear inheritance chain of 10,000 files: all reached, on a small stack.
#[test]
fn inheritance_chain_of_10000_files() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..N {
        let text = if i + 1 < N {
            format!("inherits_from: f{:05}\n", i + 1)
        } else {
            "end: true\n".into()
        };
        write(dir.path(), &format!("workflows/chain/f{i:05}.yaml"), text);
    }
    let c = bounded(
        dir.path(),
        "workflows/chain/f00000.yaml",
        Duration::from_secs(120),
    );
    assert_eq!(c.files.len(), N);
    assert!(c.cycles.is_empty() && c.unresolved.is_empty() && c.parse_errors.is_empty());
}

/// The same chain closed into one 10,000-file cycle, and each file also inheriting the one
/// before (10,000 two-cycles): cycle detection stays iterative and bounded.
#[test]
fn inheritance_cycles_over_10000_files() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..N {
        let (next, prev) = ((i + 1) % N, (i + N - 1) % N);
        write(
            dir.path(),
            &format!("workflows/ring/f{i:05}.yaml"),
            format!("inherits_from: [f{next:05}, f{prev:05}.yaml]\n"),
        );
    }
    let c = bounded(
        dir.path(),
        "workflows/ring/f00000.yaml",
        Duration::from_secs(120),
    );
    assert_eq!(c.files.len(), N);
    assert!(!c.cycles.is_empty());
    // A report, not an explosion: at most one cycle per edge.
    assert!(
        c.cycles.len() <= 2 * N,
        "{} cycles reported",
        c.cycles.len()
    );
}

/// 10,000 files in one folder, the whole tree taken (`resolve_tree`), and a tool set listing
/// 10,000 tools.
#[test]
fn ten_thousand_files_wide() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let mut tools = String::from("name: all\ntools:\n");
    for i in 0..N {
        write(
            dir.path(),
            &format!("tools/t{i:05}.yaml"),
            format!("name: t{i:05}\n"),
        );
        tools.push_str(&format!("  - t{i:05}\n  - missing{i:05}\n"));
    }
    write(dir.path(), "tool-sets/all.yaml", &tools);
    write(dir.path(), "agents/a.yaml", "name: a\ntool_sets: [all]\n");
    write(
        dir.path(),
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      agent: a\n",
    );
    let c = bounded(dir.path(), "workflows/w.yaml", Duration::from_secs(120));
    assert_eq!(c.files.len(), N + 3, "{c}");
    assert_eq!(c.unresolved.len(), N, "one per missing tool");
    let start = Instant::now();
    let t = resolve_tree(dir.path(), &Options::new()).unwrap();
    assert_eq!(t.files.len(), N + 3);
    assert!(start.elapsed() < Duration::from_secs(60));
}

/// Issue 22, item 5: 100,000 levels of flow nesting (`a: [[[…]]]`, `{a: {a: …}}`) and of
/// compact block sequences are refused by the linear pre-scan before the parser (whose work
/// grows with the square of the depth) sees them: the parse error is the pre-scan's, naming
/// the first line past the limit.
#[test]
fn issue_22_nesting_100000_levels_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let shapes = [
        (
            "flow-seq",
            format!("a: {}{}\n", "[".repeat(n), "]".repeat(n)),
        ),
        (
            "flow-map",
            format!("a: {}{}\n", "{a: ".repeat(n), "}".repeat(n)),
        ),
        ("compact-seq", format!("k:\n{}x\n", "- ".repeat(n))),
    ];
    for (name, text) in &shapes {
        write(dir.path(), &format!("workflows/{name}.yaml"), text);
    }
    for (name, _) in &shapes {
        let (root, wf) = (dir.path().to_owned(), format!("workflows/{name}.yaml"));
        let c = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || resolve(&root, &wf, &Options::new()).unwrap())
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("the analysis panicked"));
        let e = c.workflow_error.as_ref().expect("refused");
        assert_eq!(
            e.message, "nested deeper than 256 levels; not analysed",
            "{name}"
        );
        assert_eq!(
            e.line,
            Some(if *name == "compact-seq" { 2 } else { 1 }),
            "{name}"
        );
    }
}

/// Issue 22, item 6: a workflow listing 1,000,000 `fallback_models` (7.9 MB, under the parse
/// limit) has its first 25,000 references followed and the rest reported as dropped, in
/// bounded memory (it took 2.3 GB before); references past 250,000 per closure likewise.
#[test]
fn issue_22_reference_caps_report_what_they_dropped() {
    use cfgvault_closure::Dropped;
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..1_000_000).map(|i| format!("m{i}")).collect();
    write(
        dir.path(),
        "workflows/w.yaml",
        format!("fallback_models: [{}]\n", names.join(",")),
    );
    let before = peak_rss_mib();
    let c = resolve(dir.path(), "workflows/w.yaml", &Options::new()).unwrap();
    let grew = peak_rss_mib().saturating_sub(before);
    assert_eq!(
        c.dropped,
        [Dropped {
            path: "workflows/w.yaml".into(),
            count: 975_000,
            limit: "25000 references per file".into(),
        }]
    );
    assert_eq!(c.unresolved.len(), 25_000);
    assert_eq!(
        c.unresolved[0].value, "m0",
        "document order: the first ones are kept"
    );
    assert!(grew < 1024, "the analysis grew the peak RSS by {grew} MiB");

    // Eleven files of 25,000 references each, all inherited by one workflow.
    let mut parents = Vec::new();
    for f in 0..11 {
        let list: Vec<String> = (0..25_000).map(|i| format!("f{f}m{i}")).collect();
        write(
            dir.path(),
            &format!("workflows/p{f:02}.yaml"),
            format!("fallback_models: [{}]\n", list.join(",")),
        );
        parents.push(format!("p{f:02}.yaml"));
    }
    write(
        dir.path(),
        "workflows/wide.yaml",
        format!("inherits_from: [{}]\n", parents.join(",")),
    );
    let c = resolve(dir.path(), "workflows/wide.yaml", &Options::new()).unwrap();
    assert_eq!(c.files.len(), 12);
    let total: usize = c.dropped.iter().map(|d| d.count).sum();
    assert_eq!(total, 11 + 275_000 - 250_000, "{:?}", c.dropped);
    assert!(
        c.dropped
            .iter()
            .all(|d| d.limit == "250000 references per closure"),
        "{:?}",
        c.dropped
    );
}
