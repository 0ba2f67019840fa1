//! The real history: every workflow of every snapshot, and two closures pinned by hand.
//!
//! The corpus is not part of the repository (no licence): it is unpacked at run time from
//! `$CFGVAULT_CORPUS` or `../shared/corpus/open-agent-configs.tar.zst` beside the repository
//! (`cfgvault_testkit::unpack`), and its absence fails the tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cfgvault_closure::{Closure, Options, Strategy, resolve, resolve_tree};
use cfgvault_testkit::unpack;
use tempfile::TempDir;

use crate::assert_render;
use crate::fixtures::check_invariants;

pub(crate) fn snapshots(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("configs").is_dir())
        .collect();
    out.sort();
    out
}

pub(crate) fn workflows(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("workflows")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

/// Resolves every workflow of one snapshot with every strategy; returns how many closures.
fn resolve_snapshot(snap: &Path) -> usize {
    let strategies = ["minimal", "standard", "comprehensive", "tree"];
    let root = snap.join("configs");
    let mut resolved = 0;
    for wf in workflows(&root) {
        let mut previous = 0;
        for s in strategies {
            let options = Options::new().strategy(s.parse().unwrap());
            let c = resolve(&root, &wf, &options)
                .unwrap_or_else(|e| panic!("{}: {wf} ({s}): {e}", snap.display()));
            check_invariants(&c);
            assert!(c.contains(&wf), "{wf} is in its own closure");
            // Each strategy keeps at least what the previous one kept.
            assert!(c.files.len() >= previous, "{wf}: {s} shrank");
            previous = c.files.len();
            resolved += 1;
        }
    }
    let tree = resolve_tree(&root, &Options::new()).unwrap();
    check_invariants(&tree);
    resolved
}

#[test]
fn every_workflow_of_every_snapshot_with_every_strategy() {
    let corpus = unpack(&[]);
    let snaps = snapshots(corpus.path());
    assert_eq!(snaps.len(), 102, "snapshots in the corpus");
    // Snapshots are independent; spread them over the machine's threads.
    let next = AtomicUsize::new(0);
    let resolved = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(snap) = snaps.get(next.fetch_add(1, Ordering::Relaxed)) {
                    resolved.fetch_add(resolve_snapshot(snap), Ordering::Relaxed);
                }
            });
        }
    });
    let resolved = resolved.into_inner();
    assert!(resolved > 4 * 1000, "resolved {resolved} closures");
}

fn resolve_in(corpus: &TempDir, snap: &str, wf: &str, strategy: Strategy) -> Closure {
    let root = corpus.path().join(snap).join("configs");
    resolve(&root, wf, &Options::new().strategy(strategy)).unwrap()
}

/// The tree the seed describes. Checked against the files: react.yaml names `openai-gpt4` in two
/// nodes and `tool_manager: default`; openai-gpt4.yaml has `token_counter: openai_gpt4` and
/// `fallback_models: [openai-gpt3.5-turbo]`, which no file provides; tools/weather.yaml has an
/// unquoted `: ` at line 24 (after 8 CJK characters) and is matched by its stem; database.yaml
/// (`name: database_query`) is in only through the tool manager.
#[test]
fn snap_0021_react_comprehensive() {
    let corpus = unpack(&[]);
    let c = resolve_in(
        &corpus,
        "snap-0021",
        "workflows/react.yaml",
        Strategy::Comprehensive,
    );
    assert_render(
        &c.to_string(),
        r"
        file global.yaml [global]
        file llms/provider/openai/common.yaml [llm] <- llms/provider/openai/openai-gpt4.yaml:(implicit)=common.yaml (provider_common)
        file llms/provider/openai/openai-gpt4.yaml [llm] <- workflows/react.yaml:nodes.analyze.config.llm_client=openai-gpt4 (llm_client)
        file llms/provider/openai/openai-gpt4.yaml [llm] <- workflows/react.yaml:nodes.final_answer.config.llm_client=openai-gpt4 (llm_client)
        file llms/tokens_counter/_group.yaml [group] <- llms/tokens_counter/openai_gpt4.yaml:group=openai_group (group)
        file llms/tokens_counter/openai_gpt4.yaml [token_counter] <- llms/provider/openai/openai-gpt4.yaml:token_counter=openai_gpt4 (token_counter)
        file tool-sets/basic-tools.yaml [tool_set] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/calculator.yaml [tool] <- tool-sets/basic-tools.yaml:tools[0]=calculator (tool_set_tools)
        file tools/calculator.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/database.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/weather.yaml [tool] <- tool-sets/basic-tools.yaml:tools[1]=weather (tool_set_tools)
        file tools/weather.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file workflows/react.yaml [workflow]
        parse-error tools/weather.yaml:24:28: mapping values are not allowed in this context
        unresolved llms/provider/openai/openai-gpt4.yaml:fallback_models[0]=openai-gpt3.5-turbo: not found (tried llms/provider/*/openai-gpt3.5-turbo.yaml, llms/openai-gpt3.5-turbo.yaml)
    ",
        "snap-0021 workflows/react.yaml",
    );

    let standard = resolve_in(
        &corpus,
        "snap-0021",
        "workflows/react.yaml",
        Strategy::Standard,
    );
    let dropped: Vec<&str> = c.paths().filter(|p| !standard.contains(p)).collect();
    assert_eq!(dropped, ["global.yaml", "llms/tokens_counter/_group.yaml"]);
}

/// A later tree with `inherits_from` written relative to `llms/` (`provider/siliconflow/common`,
/// found from an ancestor folder), LLMs that fall back to each other (a cycle), token counters
/// no file provides, and a tool registry. Checked against the files: plan_execute_workflow.yaml
/// names `silicon-Qwen2.5-7B` in three nodes and `tool_manager: default`; that LLM falls back to
/// `silicon-Hunyuan-MT-7B`, which falls back to it; neither `siliconflow_*` token counter exists
/// (llms/tokens_counter/ holds only the anthropic, gemini and openai ones); the registry lists
/// every tool by file name in tools/; hash_convert.yaml and weather.yaml do not parse.
#[test]
fn snap_0065_plan_execute_with_inherits_from() {
    let corpus = unpack(&[]);
    let c = resolve_in(
        &corpus,
        "snap-0065",
        "workflows/plan_execute_workflow.yaml",
        Strategy::Comprehensive,
    );
    let mut summary: Vec<String> = c
        .files
        .iter()
        .map(|f| format!("file {} [{}]", f.path, f.kind))
        .collect();
    summary.extend(
        c.to_string()
            .lines()
            .filter(|l| !l.starts_with("file "))
            .map(str::to_owned),
    );
    assert_render(
        &summary.join("\n"),
        r"
        file global.yaml [global]
        file llms/provider/siliconflow/common.yaml [llm]
        file llms/provider/siliconflow/silicon-Hunyuan-MT-7B.yaml [llm]
        file llms/provider/siliconflow/silicon-Qwen2.5-7B.yaml [llm]
        file tool-sets/basic-tools.yaml [tool_set]
        file tools/__registry__.yaml [registry]
        file tools/calculator.yaml [tool]
        file tools/database.yaml [tool]
        file tools/duckduckgo_search.yaml [tool]
        file tools/fetch.yaml [tool]
        file tools/hash_convert.yaml [tool]
        file tools/sequentialthinking.yaml [tool]
        file tools/time_tool.yaml [tool]
        file tools/weather.yaml [tool]
        file workflows/plan_execute_workflow.yaml [workflow]
        cycle llms/provider/siliconflow/silicon-Hunyuan-MT-7B.yaml -> llms/provider/siliconflow/silicon-Qwen2.5-7B.yaml -> llms/provider/siliconflow/silicon-Hunyuan-MT-7B.yaml
        parse-error tools/hash_convert.yaml:16:51: mapping values are not allowed in this context
        parse-error tools/weather.yaml:24:53: mapping values are not allowed in this context
        unresolved llms/provider/siliconflow/silicon-Hunyuan-MT-7B.yaml:token_counter=siliconflow_tencent_hunyuan_mt_7b: not found (tried llms/tokens_counter/siliconflow_tencent_hunyuan_mt_7b.yaml)
        unresolved llms/provider/siliconflow/silicon-Qwen2.5-7B.yaml:token_counter=siliconflow_qwen_qwen2_5_7b_instruct: not found (tried llms/tokens_counter/siliconflow_qwen_qwen2_5_7b_instruct.yaml)
    ",
        "snap-0065 workflows/plan_execute_workflow.yaml",
    );

    let inherit: Vec<(&str, &str)> = c
        .edges
        .iter()
        .filter(|e| e.rule == "inherits_from")
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(
        inherit,
        [
            (
                "llms/provider/siliconflow/silicon-Hunyuan-MT-7B.yaml",
                "llms/provider/siliconflow/common.yaml"
            ),
            (
                "llms/provider/siliconflow/silicon-Qwen2.5-7B.yaml",
                "llms/provider/siliconflow/common.yaml"
            ),
        ]
    );
    assert!(c.edges.iter().any(|e| e.rule == "registry_files"
        && e.key == "tool_types.native.config_files[2]"
        && e.to == "tools/weather.yaml"));
}
