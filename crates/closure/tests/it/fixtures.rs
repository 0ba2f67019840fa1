//! One `check` per fixture case; what each fixture exercises is in fixtures/README.md.

use cfgvault_closure::{Error, Options, Profile, Strategy, resolve, resolve_tree};

use crate::{assert_render, fixture_dir};

/// Resolves `workflow` in `fixtures/closure/FIXTURE/configs` and compares the `Display` rendering.
/// `how` is a strategy name, optionally followed by exclude globs: `"tree *_test.yaml"`.
fn check(fixture: &str, workflow: &str, how: &str, expected: &str) {
    let mut words = how.split_whitespace();
    let strategy: Strategy = words.next().unwrap().parse().unwrap();
    let mut options = Options::new().strategy(strategy);
    for pattern in words {
        options = options.exclude(pattern);
    }
    let root = fixture_dir(fixture).join("configs");
    let closure = resolve(&root, workflow, &options).unwrap();
    check_invariants(&closure);
    assert_render(
        &closure.to_string(),
        expected,
        &format!("{fixture} {workflow} {how}"),
    );
}

/// What every closure promises, whatever the input.
pub(crate) fn check_invariants(c: &cfgvault_closure::Closure) {
    let paths: Vec<&str> = c.paths().collect();
    assert!(
        paths.windows(2).all(|w| w[0] < w[1]),
        "files sorted and unique: {paths:?}"
    );
    for f in &c.files {
        assert!(!f.path.starts_with('/') && !f.path.split('/').any(|s| s == ".." || s.is_empty()));
        for &i in &f.via {
            assert_eq!(c.edges[i].to, f.path, "via points at an edge to the file");
        }
    }
    for e in &c.edges {
        assert!(
            c.contains(&e.to),
            "edge target {} is a file of the closure",
            e.to
        );
    }
    for u in &c.unresolved {
        assert!(
            c.contains(&u.from) || u.key.is_empty(),
            "unresolved from a closure file: {u:?}"
        );
    }
    for p in &c.parse_errors {
        assert!(c.contains(&p.path));
    }
}

#[test]
fn basic_comprehensive() {
    check(
        "basic",
        "workflows/react.yaml",
        "comprehensive",
        r"
        file agents/_group.yaml [group] <- agents/helper.yaml:group=default_group (group)
        file agents/helper.yaml [agent] <- workflows/react.yaml:nodes.delegate.config.agent=helper (agent)
        file global.yaml [global]
        file llms/provider/openai/common.yaml [llm] <- llms/provider/openai/openai-gpt4.yaml:(implicit)=common.yaml (provider_common)
        file llms/provider/openai/openai-gpt4.yaml [llm] <- workflows/react.yaml:nodes.analyze.config.llm_client=openai-gpt4 (llm_client)
        file llms/tokens_counter/_group.yaml [group] <- llms/tokens_counter/openai_gpt4.yaml:group=openai_group (group)
        file llms/tokens_counter/openai_gpt4.yaml [token_counter] <- llms/provider/openai/openai-gpt4.yaml:token_counter=openai_gpt4 (token_counter)
        file tool-sets/basic-tools.yaml [tool_set] <- agents/helper.yaml:tool_sets[0]=basic_tools (agent_tool_sets)
        file tool-sets/basic-tools.yaml [tool_set] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/calculator.yaml [tool] <- tool-sets/basic-tools.yaml:tools[0]=calculator (tool_set_tools)
        file tools/calculator.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/rest/weather.yaml [tool] <- tool-sets/basic-tools.yaml:tools[1]=weather (tool_set_tools)
        file tools/rest/weather.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file workflows/react.yaml [workflow]
        unresolved llms/provider/openai/openai-gpt4.yaml:fallback_models[0]=gpt-missing: not found (tried llms/provider/*/gpt-missing.yaml, llms/gpt-missing.yaml)
    ",
    );
}

#[test]
fn basic_standard_keeps_llms_and_tools() {
    check(
        "basic",
        "workflows/react.yaml",
        "standard",
        r"
        file llms/provider/openai/common.yaml [llm] <- llms/provider/openai/openai-gpt4.yaml:(implicit)=common.yaml (provider_common)
        file llms/provider/openai/openai-gpt4.yaml [llm] <- workflows/react.yaml:nodes.analyze.config.llm_client=openai-gpt4 (llm_client)
        file llms/tokens_counter/openai_gpt4.yaml [token_counter] <- llms/provider/openai/openai-gpt4.yaml:token_counter=openai_gpt4 (token_counter)
        file tool-sets/basic-tools.yaml [tool_set] <- agents/helper.yaml:tool_sets[0]=basic_tools (agent_tool_sets)
        file tool-sets/basic-tools.yaml [tool_set] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/calculator.yaml [tool] <- tool-sets/basic-tools.yaml:tools[0]=calculator (tool_set_tools)
        file tools/calculator.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/rest/weather.yaml [tool] <- tool-sets/basic-tools.yaml:tools[1]=weather (tool_set_tools)
        file tools/rest/weather.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file workflows/react.yaml [workflow]
        unresolved llms/provider/openai/openai-gpt4.yaml:fallback_models[0]=gpt-missing: not found (tried llms/provider/*/gpt-missing.yaml, llms/gpt-missing.yaml)
    ",
    );
}

#[test]
fn basic_minimal_is_the_workflow_alone() {
    check(
        "basic",
        "workflows/react.yaml",
        "minimal",
        "file workflows/react.yaml [workflow]",
    );
}

#[test]
fn basic_tree_adds_unreferenced_files() {
    check(
        "basic",
        "workflows/react.yaml",
        "tree",
        r"
        file agents/_group.yaml [group] <- agents/helper.yaml:group=default_group (group)
        file agents/helper.yaml [agent] <- workflows/react.yaml:nodes.delegate.config.agent=helper (agent)
        file global.yaml [global]
        file llms/provider/openai/common.yaml [llm] <- llms/provider/openai/openai-gpt4.yaml:(implicit)=common.yaml (provider_common)
        file llms/provider/openai/openai-gpt4.yaml [llm] <- workflows/react.yaml:nodes.analyze.config.llm_client=openai-gpt4 (llm_client)
        file llms/provider/openai/openai_dev.yaml [llm]
        file llms/tokens_counter/_group.yaml [group] <- llms/tokens_counter/openai_gpt4.yaml:group=openai_group (group)
        file llms/tokens_counter/openai_gpt4.yaml [token_counter] <- llms/provider/openai/openai-gpt4.yaml:token_counter=openai_gpt4 (token_counter)
        file prompts/system.md [other]
        file tool-sets/basic-tools.yaml [tool_set] <- agents/helper.yaml:tool_sets[0]=basic_tools (agent_tool_sets)
        file tool-sets/basic-tools.yaml [tool_set] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/calculator.yaml [tool] <- tool-sets/basic-tools.yaml:tools[0]=calculator (tool_set_tools)
        file tools/calculator.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file tools/rest/weather.yaml [tool] <- tool-sets/basic-tools.yaml:tools[1]=weather (tool_set_tools)
        file tools/rest/weather.yaml [tool] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file workflows/react.yaml [workflow]
        file workflows/react_test.yaml [workflow]
        unresolved llms/provider/openai/openai-gpt4.yaml:fallback_models[0]=gpt-missing: not found (tried llms/provider/*/gpt-missing.yaml, llms/gpt-missing.yaml)
    ",
    );
}

#[test]
fn basic_excludes_apply_to_tree() {
    check(
        "basic",
        "workflows/react.yaml",
        "tree *_test.yaml *_dev.yaml tools/** *.md agents/*",
        r"
        file global.yaml [global]
        file llms/provider/openai/common.yaml [llm] <- llms/provider/openai/openai-gpt4.yaml:(implicit)=common.yaml (provider_common)
        file llms/provider/openai/openai-gpt4.yaml [llm] <- workflows/react.yaml:nodes.analyze.config.llm_client=openai-gpt4 (llm_client)
        file llms/tokens_counter/_group.yaml [group] <- llms/tokens_counter/openai_gpt4.yaml:group=openai_group (group)
        file llms/tokens_counter/openai_gpt4.yaml [token_counter] <- llms/provider/openai/openai-gpt4.yaml:token_counter=openai_gpt4 (token_counter)
        file tool-sets/basic-tools.yaml [tool_set] <- agents/helper.yaml:tool_sets[0]=basic_tools (agent_tool_sets)
        file tool-sets/basic-tools.yaml [tool_set] <- workflows/react.yaml:nodes.execute_tool.config.tool_manager=default (tool_manager)
        file workflows/react.yaml [workflow]
        unresolved llms/provider/openai/openai-gpt4.yaml:fallback_models[0]=gpt-missing: not found (tried llms/provider/*/gpt-missing.yaml, llms/gpt-missing.yaml)
    ",
    );
}

#[test]
fn basic_resolve_tree_lists_every_file() {
    let root = fixture_dir("basic").join("configs");
    let c = resolve_tree(&root, &Options::new().exclude("*.md")).unwrap();
    check_invariants(&c);
    assert_render(
        &c.to_string(),
        r"
        file agents/_group.yaml [group]
        file agents/helper.yaml [agent]
        file global.yaml [global]
        file llms/provider/openai/common.yaml [llm]
        file llms/provider/openai/openai-gpt4.yaml [llm]
        file llms/provider/openai/openai_dev.yaml [llm]
        file llms/tokens_counter/_group.yaml [group]
        file llms/tokens_counter/openai_gpt4.yaml [token_counter]
        file tool-sets/basic-tools.yaml [tool_set]
        file tools/calculator.yaml [tool]
        file tools/rest/weather.yaml [tool]
        file workflows/react.yaml [workflow]
        file workflows/react_test.yaml [workflow]
    ",
        "resolve_tree basic",
    );
    assert_eq!(c.workflow, None);
}

#[test]
fn basic_custom_strategy_from_yaml() {
    let strategy = Strategy::load(fixture_dir("basic").join("strategy-lean.yaml")).unwrap();
    assert_eq!(strategy.to_string(), "lean");
    let root = fixture_dir("basic").join("configs");
    let c = resolve(
        &root,
        "workflows/react.yaml",
        &Options::new().strategy(strategy),
    )
    .unwrap();
    assert_eq!(
        c.paths().collect::<Vec<_>>(),
        [
            "global.yaml",
            "llms/provider/openai/openai-gpt4.yaml",
            "workflows/react.yaml"
        ]
    );
}

#[test]
fn missing_references_are_reported() {
    check(
        "missing",
        "workflows/main.yaml",
        "comprehensive",
        r"
        file workflows/main.yaml [workflow]
        unresolved workflows/main.yaml:inherits_from=base_workflow: not found (tried workflows/base_workflow.yaml, workflows/base_workflow, base_workflow.yaml, base_workflow)
        unresolved workflows/main.yaml:nodes.answer.config.llm_client=${LLM_CLIENT:gpt-4}: contains a placeholder
        unresolved workflows/main.yaml:nodes.think.config.llm_client=no-such-llm: not found (tried llms/provider/*/no-such-llm.yaml, llms/no-such-llm.yaml)
    ",
    );
}

#[test]
fn missing_group_key_and_empty_value() {
    check(
        "missing",
        "workflows/counter.yaml",
        "comprehensive",
        r"
        file llms/tokens_counter/_group.yaml [group] <- llms/tokens_counter/orphan.yaml:group=nobody (group)
        file llms/tokens_counter/orphan.yaml [token_counter] <- workflows/counter.yaml:token_counter=orphan (token_counter)
        file workflows/counter.yaml [workflow]
        unresolved llms/tokens_counter/orphan.yaml:group=nobody: key 'nobody' not found in llms/tokens_counter/_group.yaml
        unresolved workflows/counter.yaml:fallback_models[0]=: empty value
    ",
    );
}

#[test]
fn cycle_inheritance_and_self_inheritance() {
    check(
        "cycle",
        "workflows/main.yaml",
        "comprehensive",
        r"
        cycle llms/provider/p/loop.yaml -> llms/provider/p/loop.yaml
        cycle workflows/base.yaml -> workflows/main.yaml -> workflows/base.yaml
        file llms/provider/p/loop.yaml [llm] <- llms/provider/p/loop.yaml:inherits_from=loop.yaml (inherits_from)
        file llms/provider/p/loop.yaml [llm] <- workflows/main.yaml:nodes.a.config.llm_client=loop (llm_client)
        file workflows/base.yaml [workflow] <- workflows/main.yaml:inherits_from=base (inherits_from)
        file workflows/main.yaml [workflow] <- workflows/base.yaml:inherits_from[0]=main.yaml (inherits_from)
    ",
    );
}

#[test]
fn escape_is_reported_not_read() {
    check(
        "escape",
        "workflows/main.yaml",
        "tree",
        r"
        file workflows/main.yaml [workflow]
        unresolved workflows/main.yaml:inherits_from[0]=../../etc/passwd: outside the config root
        unresolved workflows/main.yaml:inherits_from[1]=../../secret.yaml: outside the config root
        unresolved workflows/main.yaml:inherits_from[2]=../secrets.yaml: not found (tried secrets.yaml; 1 outside the config root)
        unresolved workflows/main.yaml:inherits_from[3]=/etc/passwd: outside the config root
        unresolved workflows/main.yaml:nodes.a.config.llm_client=../../../../secret: outside the config root
    ",
    );
}

#[test]
fn unparsable_files_stay_in_the_closure() {
    check(
        "unparsable",
        "workflows/main.yaml",
        "comprehensive",
        r"
        file llms/broken.yaml [llm] <- workflows/main.yaml:nodes.a.config.llm_client=broken (llm_client)
        file tool-sets/set.yaml [tool_set] <- workflows/main.yaml:nodes.b.config.tool_manager=default (tool_manager)
        file tools/weather.yaml [tool] <- tool-sets/set.yaml:tools[0]=weather (tool_set_tools)
        file tools/weather.yaml [tool] <- workflows/main.yaml:nodes.b.config.tool_manager=default (tool_manager)
        file workflows/main.yaml [workflow]
        parse-error llms/broken.yaml:3:19: mapping values are not allowed in this context
        parse-error tools/weather.yaml:4:26: mapping values are not allowed in this context
    ",
    );
}

#[test]
fn multidoc_workflow_is_a_parse_error() {
    check(
        "multidoc",
        "workflows/main.yaml",
        "comprehensive",
        r"
        file workflows/main.yaml [workflow]
        parse-error workflows/main.yaml:6: deserializing from YAML containing more than one document is not supported
        workflow-error workflows/main.yaml
    ",
    );
}

#[test]
fn custom_tags_are_seen_through() {
    check(
        "tags",
        "workflows/main.yaml",
        "comprehensive",
        r"
        file workflows/base.yaml [workflow] <- workflows/main.yaml:inherits_from=base.yaml (inherits_from)
        file workflows/main.yaml [workflow]
    ",
    );
}

#[test]
fn another_layout_is_a_profile_file() {
    let dir = fixture_dir("custom_profile");
    let profile = Profile::load(dir.join("profile.yaml")).unwrap();
    assert_eq!(profile.name(), "pipelines");
    let options = Options::new().profile(profile);
    let c = resolve(&dir.join("configs"), "pipeline.yml", &options).unwrap();
    check_invariants(&c);
    assert_render(
        &c.to_string(),
        r"
        file models/big.yml [llm] <- pipeline.yml:stages[0].model=big (model)
        file pipeline.yml [workflow]
        file settings.yml [global]
        file steps/clean.yml [other] <- pipeline.yml:include[0]=steps/clean.yml (include)
        file steps/train.yml [other] <- pipeline.yml:include[1]=steps/train.yml (include)
        unresolved steps/train.yml:stages[0].model=huge: not found (tried models/huge.yml)
    ",
        "custom profile",
    );
}

#[test]
fn errors_name_the_path() {
    let root = fixture_dir("basic").join("configs");
    let opts = Options::new();
    let msg = |r: Result<cfgvault_closure::Closure, Error>| r.unwrap_err().to_string();

    let e = resolve(&root, "workflows/nope.yaml", &opts);
    assert!(matches!(e, Err(Error::WorkflowMissing { .. })));
    assert!(msg(e).starts_with("workflow 'workflows/nope.yaml' does not exist under '"));

    let e = resolve(&root, "workflows", &opts);
    assert!(matches!(e, Err(Error::WorkflowNotFile { .. })));
    assert_eq!(msg(e), "workflow 'workflows' is not a regular file");

    for outside in ["../secret.yaml", "/etc/passwd", "workflows/../../x.yaml"] {
        let e = resolve(&root, outside, &opts);
        assert!(
            matches!(e, Err(Error::WorkflowOutsideRoot { .. })),
            "{outside}"
        );
        assert_eq!(
            msg(e),
            format!("workflow '{outside}' is outside the config root")
        );
    }

    let e = resolve(&root.join("nope"), "workflows/react.yaml", &opts);
    assert!(matches!(
        e,
        Err(Error::Io {
            action: "read config root",
            ..
        })
    ));
    assert!(msg(e).starts_with("could not read config root '"));

    let e = resolve(&root.join("global.yaml"), "workflows/react.yaml", &opts);
    assert!(matches!(e, Err(Error::RootNotDirectory { .. })));

    let e = resolve(
        &root,
        "workflows/react.yaml",
        &Options::new().exclude("a[b"),
    );
    assert!(matches!(e, Err(Error::Glob { .. })));
    assert!(msg(e).starts_with("invalid exclude glob 'a[b': "));

    let e = Profile::load(fixture_dir("nope.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("could not read profile '") && e.ends_with("nope.yaml'"),
        "{e}"
    );

    // A workflow given with `./` and doubled slashes is the same file.
    let c = resolve(
        &root,
        "./workflows//react.yaml",
        &Options::new().strategy(Strategy::Minimal),
    );
    assert_eq!(c.unwrap().workflow.as_deref(), Some("workflows/react.yaml"));
}

#[test]
fn file_kinds_round_trip() {
    use cfgvault_closure::FileKind;
    for k in FileKind::ALL {
        assert_eq!(k.to_string().parse::<FileKind>().unwrap(), k);
    }
}
