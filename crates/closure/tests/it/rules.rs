//! Issue 23: the profile rules for the real layout's registries and references, each checked
//! on the snapshots of the real history where it occurs.

use std::fs;
use std::path::Path;

use cfgvault_closure::{Closure, Options, resolve};

use cfgvault_testkit::unpack;

use crate::corpus::{snapshots, workflows};

fn closure(root: &Path, wf: &str) -> Closure {
    resolve(root, wf, &Options::new()).unwrap_or_else(|e| panic!("{}: {wf}: {e}", root.display()))
}

fn edge_targets<'a>(c: &'a Closure, rule: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = c
        .edges
        .iter()
        .filter(|e| e.rule == rule)
        .map(|e| e.to.as_str())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn reasons(c: &Closure, from: &str) -> Vec<String> {
    c.unresolved
        .iter()
        .filter(|u| u.from == from)
        .map(|u| format!("{}={}: {}", u.key, u.value, u.reason))
        .collect()
}

/// snap-0060 `workflows/llm_task_group_example.yaml` names seven task groups by
/// `llm_group`/`fallback_groups` (`GROUP.ECHELON`) and two polling pools; each is registered in
/// `llms/groups/_task_groups.yaml` with its file relative to `llms/`, and each echelon is a
/// top-level key of its group file. Before the registry rules the closure was 2 files.
#[test]
fn issue_23_llm_task_groups_and_polling_pools_snap_0060() {
    let corpus = unpack(&[]);
    let root = corpus.path().join("snap-0060/configs");
    let wf = "workflows/llm_task_group_example.yaml";
    let c = closure(&root, wf);
    assert_eq!(
        edge_targets(&c, "llm_group"),
        [
            "llms/groups/_task_groups.yaml",
            "llms/groups/execute_group.yaml",
            "llms/groups/fast_group.yaml",
            "llms/groups/fast_small_group.yaml",
            "llms/groups/plan_group.yaml",
            "llms/groups/review_group.yaml",
            "llms/groups/thinking_group.yaml",
        ]
    );
    assert_eq!(
        edge_targets(&c, "polling_pool"),
        [
            "llms/groups/_task_groups.yaml",
            "llms/polling_pools/high_concurrency_pool.yaml",
            "llms/polling_pools/single_turn_pool.yaml",
        ]
    );
    // high_concurrency_pool's `task_groups: [high_payload_group, ...]` reaches one more group,
    // and the groups' `models:` reach the LLMs that exist.
    assert!(edge_targets(&c, "pool_task_groups").contains(&"llms/groups/high_payload_group.yaml"));
    assert!(edge_targets(&c, "group_models").contains(&"llms/provider/openai/openai-gpt4.yaml"));
    assert!(c.contains("llms/provider/openai/common.yaml"));
    assert_eq!(
        reasons(&c, wf),
        Vec::<String>::new(),
        "every group and echelon resolves"
    );
    // With the registry's three global configs (llms/concurrency_control.yaml, …).
    assert_eq!(edge_targets(&c, "task_group_globals").len(), 3);
    assert_eq!(c.files.len(), 22, "files (2 before the registry rules)");

    // An echelon the group lacks and a group the registry lacks are both reported.
    let text = fs::read_to_string(root.join(wf)).unwrap();
    let edited = text
        .replace("\"plan_group.echelon1\"", "\"plan_group.echelon9\"")
        .replace("\"review_group.echelon1\"", "\"nope_group.echelon1\"");
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&root, copy.path());
    fs::write(copy.path().join(wf), edited).unwrap();
    let c = closure(copy.path(), wf);
    assert_eq!(
        reasons(&c, wf),
        [
            "nodes.planning_node.config.llm_group=plan_group.echelon9: key 'echelon9' not found in llms/groups/plan_group.yaml",
            "nodes.review_node.config.llm_group=nope_group.echelon1: no task_groups.nope_group in llms/groups/_task_groups.yaml",
        ]
    );
}

/// Every workflow of the history naming a task group (46, snap-0057 to snap-0102) gets its
/// registry and group files, with nothing unresolved at the workflow's group references:
/// snap-0057 and snap-0058 define the groups inside the registry, later ones in their own files.
#[test]
fn issue_23_every_task_group_workflow_of_the_history_resolves() {
    let corpus = unpack(&[]);
    let mut seen = 0;
    for snap in snapshots(corpus.path()) {
        let root = snap.join("configs");
        for wf in workflows(&root) {
            let text = fs::read_to_string(root.join(&wf)).unwrap_or_default();
            if !text.contains("llm_group:") {
                continue;
            }
            seen += 1;
            let c = closure(&root, &wf);
            assert!(
                c.contains("llms/groups/_task_groups.yaml"),
                "{}: {wf}",
                snap.display()
            );
            let group_misses: Vec<_> = c
                .unresolved
                .iter()
                .filter(|u| u.from == wf && (u.key.contains("group") || u.key.contains("pool")))
                .collect();
            assert!(
                group_misses.is_empty(),
                "{}: {wf}: {group_misses:?}",
                snap.display()
            );
            let inline = !fs::read_to_string(root.join("llms/groups/_task_groups.yaml"))
                .unwrap()
                .contains("file:");
            let want = if inline { 1 } else { 7 };
            assert_eq!(
                edge_targets(&c, "llm_group").len(),
                want,
                "{}: {wf}",
                snap.display()
            );
        }
    }
    assert_eq!(seen, 46, "workflows naming a task group");
}

/// snap-0102 `tools/__registry__.yaml` lists each tool type's `config_files` relative to its
/// `config_directory`: the present files are found there, and the three `native` ones that
/// moved to `tools/builtin/` are reported with the path really tried.
#[test]
fn issue_23_tool_registry_config_directory_snap_0102() {
    let corpus = unpack(&[]);
    let root = corpus.path().join("snap-0102/configs");
    let c = closure(&root, "workflows/react.yaml");
    assert_eq!(
        edge_targets(&c, "registry_files"),
        [
            "tools/mcp/database.yaml",
            "tools/native/sequentialthinking.yaml",
            "tools/rest/duckduckgo_search.yaml",
            "tools/rest/fetch.yaml",
            "tools/rest/weather.yaml",
        ]
    );
    assert_eq!(
        reasons(&c, "tools/__registry__.yaml"),
        [
            "tool_types.native.config_files[0]=calculator.yaml: not found (tried tools/native/calculator.yaml)",
            "tool_types.native.config_files[1]=hash_convert.yaml: not found (tried tools/native/hash_convert.yaml)",
            "tool_types.native.config_files[3]=time_tool.yaml: not found (tried tools/native/time_tool.yaml)",
        ]
    );
    // A registry without `config_directory` (snap-0065) still lists paths beside itself.
    let root = corpus.path().join("snap-0065/configs");
    let c = closure(&root, "workflows/plan_execute_workflow.yaml");
    assert!(edge_targets(&c, "registry_files").contains(&"tools/weather.yaml"));
    assert_eq!(reasons(&c, "tools/__registry__.yaml"), Vec::<String>::new());
}

/// `additional_config.agent_config: NAME` is `agents/NAME.yaml`. The history's agents
/// (snap-0030's `agents/`) predate the key, so the workflows are written here over that tree.
#[test]
fn issue_23_agent_config_names_an_agent_file() {
    let corpus = unpack(&[]);
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&corpus.path().join("snap-0030/configs"), copy.path());
    let wf = "workflows/with_agent.yaml";
    fs::write(
        copy.path().join(wf),
        "additional_config:\n  agent_config: data_analyst\n",
    )
    .unwrap();
    let c = closure(copy.path(), wf);
    assert_eq!(
        edge_targets(&c, "agent_config"),
        ["agents/data_analyst.yaml"]
    );
    // The agent's own `group: data_group` follows.
    assert!(c.contains("agents/_group.yaml"));

    fs::write(
        copy.path().join(wf),
        "additional_config:\n  agent_config: nobody\n",
    )
    .unwrap();
    let c = closure(copy.path(), wf);
    assert_eq!(
        reasons(&c, wf),
        ["additional_config.agent_config=nobody: not found (tried agents/nobody.yaml)"]
    );
}

/// `llms/provider/` writes `inherits_from` three ways; each resolves, and a parent that does
/// not exist is reported.
#[test]
fn issue_23_inherits_from_three_styles_and_a_missing_parent() {
    let corpus = unpack(&[]);
    let cases = [
        // Beside the file.
        (
            "snap-0102",
            "llms/provider/openai/gpt-4o.yaml",
            "common.yaml",
            Some("llms/provider/openai/common.yaml"),
        ),
        // Relative to `llms/`, an ancestor, without a suffix.
        (
            "snap-0102",
            "llms/provider/siliconflow/DS-R1-0528(qwen3)-8B.yaml",
            "provider/siliconflow/common",
            Some("llms/provider/siliconflow/common.yaml"),
        ),
        // Relative to `llms/`, with a suffix, naming a sibling that inherits in turn.
        (
            "snap-0091",
            "llms/provider/openai/gpt-4-chat.yaml",
            "provider/openai/gpt-4.yaml",
            Some("llms/provider/openai/gpt-4.yaml"),
        ),
        // `../common.yaml` from human_relay/: llms/provider/common.yaml does not exist.
        (
            "snap-0028",
            "llms/provider/human_relay/human-relay-m.yaml",
            "../common.yaml",
            None,
        ),
    ];
    for (snap, file, value, want) in cases {
        let root = corpus.path().join(snap).join("configs");
        let c = closure(&root, file);
        let got: Vec<&str> = c
            .edges
            .iter()
            .filter(|e| e.rule == "inherits_from" && e.from == file)
            .map(|e| {
                assert_eq!(e.value, value, "{snap} {file}");
                e.to.as_str()
            })
            .collect();
        match want {
            Some(parent) => {
                assert_eq!(got, [parent], "{snap} {file}");
                let misses: Vec<String> = reasons(&c, file)
                    .into_iter()
                    .filter(|r| r.starts_with("inherits_from="))
                    .collect();
                assert_eq!(misses, Vec::<String>::new(), "{snap} {file}");
            }
            None => {
                assert!(got.is_empty(), "{snap} {file}: {got:?}");
                assert_eq!(
                    reasons(&c, file),
                    [
                        "inherits_from=../common.yaml: not found (tried llms/provider/common.yaml, llms/common.yaml, common.yaml; 1 outside the config root)"
                    ],
                );
            }
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let mut stack = vec![from.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let dest = to.join(p.strip_prefix(from).unwrap());
            if p.is_dir() {
                fs::create_dir_all(&dest).unwrap();
                stack.push(p);
            } else {
                fs::create_dir_all(dest.parent().unwrap()).unwrap();
                fs::copy(&p, &dest).unwrap();
            }
        }
    }
}

/// snap-0102 `workflows/collaborative.yaml` does not parse: the closure says so in
/// `workflow_error` (a session from it certainly cannot start) and still lists the file.
#[test]
fn issue_23_an_unparsable_workflow_is_a_finding() {
    let corpus = unpack(&[]);
    let root = corpus.path().join("snap-0102/configs");
    let wf = "workflows/collaborative.yaml";
    let c = closure(&root, wf);
    let e = c
        .workflow_error
        .as_ref()
        .expect("the workflow does not parse");
    assert_eq!((e.path.as_str(), e.line), (wf, Some(193)));
    assert!(c.contains(wf));
    assert!(
        c.to_string()
            .contains("workflow-error workflows/collaborative.yaml")
    );
    // A workflow that parses has none, even with unparsable files in its closure.
    let c = closure(&root, "workflows/react.yaml");
    assert!(c.workflow_error.is_none());
    assert!(!c.parse_errors.is_empty());
}

/// An exclude that would drop the workflow itself is invalid input naming the pattern.
#[test]
fn issue_23_an_exclude_of_the_workflow_is_an_error() {
    let corpus = unpack(&[]);
    let root = corpus.path().join("snap-0102/configs");
    for pattern in ["react.yaml", "workflows/*", "*.yaml"] {
        let err = resolve(
            &root,
            "workflows/react.yaml",
            &Options::new().exclude(pattern),
        )
        .unwrap_err();
        assert!(
            matches!(&err, cfgvault_closure::Error::WorkflowExcluded { path, pattern: p }
                if path == "workflows/react.yaml" && p == pattern),
            "{pattern}: {err}"
        );
    }
    // Excluding other files is fine.
    let c = resolve(
        &root,
        "workflows/react.yaml",
        &Options::new().exclude("tools/**"),
    )
    .unwrap();
    assert!(c.paths().all(|p| !p.starts_with("tools/")));
}

/// An absolute workflow path inside the root is the same workflow as its relative path; one
/// outside the root is still refused.
#[test]
fn issue_23_absolute_workflow_paths_inside_the_root() {
    let corpus = unpack(&[]);
    let root = corpus.path().join("snap-0102/configs");
    let relative = closure(&root, "workflows/react.yaml");
    let abs = root.join("workflows/react.yaml");
    let absolute = closure(&root, abs.to_str().unwrap());
    assert_eq!(absolute, relative);
    // Through the canonical root too (the temporary folder may sit behind a symlink).
    let canon = fs::canonicalize(&abs).unwrap();
    assert_eq!(closure(&root, canon.to_str().unwrap()), relative);

    let outside = corpus.path().join("snap-0101/configs/workflows/react.yaml");
    let err = resolve(&root, outside.to_str().unwrap(), &Options::new()).unwrap_err();
    assert!(
        matches!(err, cfgvault_closure::Error::WorkflowOutsideRoot { .. }),
        "{err}"
    );
}

/// The nesting pre-scan (issue 22) refuses no file of the real history.
#[test]
fn issue_22_no_file_of_the_history_is_too_deep() {
    let corpus = unpack(&[]);
    for snap in snapshots(corpus.path()) {
        let tree = cfgvault_closure::resolve_tree(&snap.join("configs"), &Options::new()).unwrap();
        let refused: Vec<_> = tree
            .parse_errors
            .iter()
            .filter(|p| p.message.contains("nested deeper"))
            .collect();
        assert!(refused.is_empty(), "{}: {refused:?}", snap.display());
    }
}

/// No silent misses: over every workflow of every snapshot (1,367 closures) no string value
/// that looks like a reference is left unfollowed. Before the rules of issue 23 and the
/// profile's documented `not_references` there were 2,396 such hints.
#[test]
fn issue_23_hints_over_every_workflow_of_the_history() {
    let corpus = unpack(&[]);
    let (mut closures, mut hints) = (0, Vec::new());
    for snap in snapshots(corpus.path()) {
        let root = snap.join("configs");
        for wf in workflows(&root) {
            let c = closure(&root, &wf);
            closures += 1;
            let name = snap.file_name().unwrap().to_string_lossy().into_owned();
            hints.extend(c.hints.iter().map(|h| format!("{name} {wf}: {h:?}")));
        }
    }
    println!("{} hints over {closures} closures", hints.len());
    assert_eq!(closures, 1367);
    assert_eq!(hints, Vec::<String>::new());
}

/// A reference under a key no rule knows (a layout change upstream) is a hint naming the file
/// it looks like, whether written as a name or as a path; values a rule followed and a file's
/// own name are not.
#[test]
fn issue_23_an_unknown_reference_key_is_a_hint() {
    let corpus = unpack(&[]);
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&corpus.path().join("snap-0102/configs"), copy.path());
    let wf = "workflows/changed.yaml";
    fs::write(
        copy.path().join(wf),
        "name: changed\nnodes:\n  a:\n    config:\n      llm_client: gpt-4o\n      llm_name: gpt-5\n      prompt_file: prompts.yaml\n",
    )
    .unwrap();
    let c = closure(copy.path(), wf);
    let got: Vec<(&str, &str, &[String])> = c
        .hints
        .iter()
        .map(|h| (h.key.as_str(), h.value.as_str(), h.candidates.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "nodes.a.config.llm_name",
                "gpt-5",
                &["llms/provider/openai/gpt-5.yaml".to_owned()][..]
            ),
            (
                "nodes.a.config.prompt_file",
                "prompts.yaml",
                &["prompts.yaml".to_owned()][..]
            ),
        ]
    );
    assert!(c.contains("llms/provider/openai/gpt-4o.yaml"));
}
