"""Diffs carry what the library's diff carries: renames, and the changed keys of YAML and JSON
files, on a real edit of the corpus (snap-0090 → snap-0091 renamed the provider files and
rewrote the shared OpenAI config)."""

from __future__ import annotations

import shutil

import cfgvault

RENAMED = (
    "llms/provider/openai/openai-gpt4-chat.yaml",
    "llms/provider/openai/gpt-4-chat.yaml",
)
COMMON = "llms/provider/openai/common.yaml"


def test_a_snapshot_to_the_next_shows_renames_and_changed_keys(corpus, vault):
    vault.backup(corpus / "snap-0090" / "configs", session="before")
    vault.backup(corpus / "snap-0091" / "configs", session="after")

    changes = vault.diff("before", "after")
    assert [c.path for c in changes] == sorted(c.path for c in changes)
    by_path = {c.path: c for c in changes}

    old, new = RENAMED
    renamed = by_path[new]
    assert renamed.status == "renamed" and renamed.old_path == old
    assert renamed.similarity is not None and 0 < renamed.similarity <= 100
    # A renamed file is reported once, under its new path.
    assert old not in by_path
    siliconflow = by_path["llms/provider/siliconflow/GLM-4-9B.yaml"]
    assert siliconflow.status == "renamed"
    assert siliconflow.old_path == "llms/provider/siliconflow/silicon-GLM-4-9B.yaml"

    common = by_path[COMMON]
    assert common.status == "modified" and common.old_path is None
    assert not common.formatting_only
    keys = {k.key: k for k in common.keys}
    assert keys["provider_type"].change == "removed"
    assert keys["provider_type"].old == "openai" and keys["provider_type"].new is None
    assert keys["timeout"].change == "added" and keys["timeout"].new == 30
    assert keys["rate_limiting"].new == {"requests_per_minute": 3500, "tokens_per_minute": 90000}
    assert [k.key for k in common.keys] == sorted(k.key for k in common.keys)

    as_dict = common.to_dict()
    assert as_dict["keys"][0] == {
        "key": common.keys[0].key,
        "change": common.keys[0].change,
        "old": common.keys[0].old,
        "new": common.keys[0].new,
    }


def test_a_changed_value_on_disk_names_the_key_and_both_values(corpus, tmp_path, vault):
    root = tmp_path / "configs"
    shutil.copytree(corpus / "snap-0091" / "configs", root)
    r = vault.backup(root, session="s")
    path = root / COMMON
    text = path.read_text(encoding="utf-8")
    assert "max_tokens: 2048" in text
    path.write_text(text.replace("max_tokens: 2048", "max_tokens: 4096"), encoding="utf-8")

    changes = vault.diff(r.session, root=root)
    assert [(c.path, c.status) for c in changes] == [(COMMON, "modified")]
    (change,) = changes
    assert [(k.key, k.change, k.old, k.new) for k in change.keys] == [
        ("defaults.max_tokens", "changed", 2048, 4096)
    ]
    assert not change.formatting_only and not change.truncated


def test_a_file_that_is_not_yaml_or_json_has_no_keys(configs, vault):
    r = vault.backup(configs, session="s")
    note = configs / "notes.txt"
    note.write_text("a\n")
    vault.backup(configs, session="t")
    note.write_text("b\n")

    (added,) = vault.diff("s", "t")
    assert added == cfgvault.Change(path="notes.txt", status="added")
    (modified,) = vault.diff("t", root=configs)
    assert modified.path == "notes.txt" and modified.status == "modified"
    assert modified.keys == [] and not modified.formatting_only
    assert r.session.id == "s"
