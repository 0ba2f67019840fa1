"""The whole lifecycle on the real corpus: back up every workflow of a snapshot, lose and edit
files, ensure brings back exactly what was lost and leaves the edits alone."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import cfgvault

from conftest import read_tree


def workflows(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in (root / "workflows").rglob("*.yaml")
        if not p.name.startswith("__")
    )


def test_every_workflow_of_a_snapshot_survives_deletion_and_edits(corpus, tmp_path, vault):
    root = tmp_path / "configs"
    shutil.copytree(corpus / "snap-0102" / "configs", root)
    original = read_tree(root)
    names = workflows(root)
    assert len(names) > 10, names

    reports = {wf: vault.backup(root, wf, labels={"workflow": wf}) for wf in names}
    for wf, r in reports.items():
        paths = [f.path for f in r.files]
        assert wf in paths, wf
        assert paths == sorted(paths)
        for f in r.files:
            assert f.size == len(original[f.path]), f.path
            assert len(f.id) == 64 and f.kind
        assert r.session.workflow == wf
        assert r.session.file_count == len(r.files)
        assert r.session.labels == {"workflow": wf}
        assert r.session.created_at.tzinfo is not None
    assert [s.id for s in vault.sessions()] == sorted(
        (r.session.id for r in reports.values()),
        key=lambda i: vault.session(i).created_at,
        reverse=True,
    )

    # Every file of every closure gone, and one file of the biggest closure edited.
    biggest = max(reports.values(), key=lambda r: len(r.files))
    edited = next(f.path for f in biggest.files if f.path != biggest.session.workflow)
    for r in reports.values():
        for f in r.files:
            (root / f.path).unlink(missing_ok=True)
    (root / edited).write_bytes(b"# edited by hand\n")

    for wf, r in reports.items():
        ensured = vault.ensure(r.session.id, root)
        in_closure = {f.path for f in r.files}
        assert set(ensured.restored) | set(ensured.ok) | set(ensured.drifted) == in_closure, wf
        assert ensured.failed == [] and ensured.errors == {}
        assert ensured.drifted == ([edited] if edited in in_closure else []), wf
    after = read_tree(root)
    for path, data in original.items():
        if path == edited:
            assert after[path] == b"# edited by hand\n", "ensure overwrote a drifted file"
        else:
            assert after[path] == data, f"{path} is not byte-identical after ensure"


def test_ensure_dry_run_writes_nothing_and_tells_what_ensure_does(configs, vault):
    r = vault.backup(configs, "workflows/react.yaml")
    gone = "llms/provider/openai/common.yaml"
    changed = "global.yaml"
    os.remove(configs / gone)
    (configs / changed).write_text("changed: true\n")

    plan = vault.ensure(r.session, dry_run=True)
    assert plan.dry_run
    assert plan.restored == [gone]
    assert plan.drifted == [changed]
    assert not (configs / gone).exists()

    done = vault.ensure(r.session)
    assert not done.dry_run
    assert (done.restored, done.drifted, sorted(done.ok)) == (
        plan.restored,
        plan.drifted,
        sorted(plan.ok),
    )
    assert (configs / gone).read_bytes() == vault.read_file(r.session.id, gone)

    assert done.diffs == {}
    explained = vault.ensure(r.session, dry_run=True, diff=True)
    assert list(explained.diffs) == [changed] and "+changed: true" in explained.diffs[changed]

    forced = vault.ensure(r.session.id, overwrite="always", dry_run=True)
    assert forced.restored == [changed] and forced.drifted == []
    assert (configs / changed).read_text() == "changed: true\n"


def test_restore_read_file_diff_and_versions(configs, tmp_path, vault):
    first = vault.backup(configs, "workflows/react.yaml", session="first")
    wf = configs / "workflows" / "react.yaml"
    wf.write_bytes(wf.read_bytes() + b"\n# tuned\n")
    second = vault.backup(os.fspath(configs), Path("workflows/react.yaml"), session="second")
    assert second.session.id == "second"

    changes = vault.diff("first", "second")
    assert [(c.path, c.status) for c in changes] == [("workflows/react.yaml", "modified")]
    # Only a comment was added: the file's parsed content is the same.
    assert vault.diff(first.session, root=configs) == [
        cfgvault.Change(path="workflows/react.yaml", status="modified", formatting_only=True)
    ]
    assert vault.diff(second.session, root=configs) == []

    out = tmp_path / "restored"
    restored = vault.restore("first", out)
    assert sorted(restored.restored) == sorted(f.path for f in first.files)
    for f in first.files:
        assert (out / f.path).read_bytes() == vault.read_file("first", f.path)
    assert (out / "workflows/react.yaml").read_bytes() != wf.read_bytes()
    again = vault.restore("second", out, paths=["workflows"])
    assert again.skipped == ["workflows/react.yaml"] and again.restored == []

    versions = vault.versions("workflows/react.yaml")
    assert [v.sessions for v in versions] == [1, 1]
    assert versions[0].id == next(f.id for f in first.files if f.path == "workflows/react.yaml")
    assert all(v.first_seen.tzinfo == timezone.utc for v in versions)

    files = vault.files("second")
    assert [f.path for f in files] == [f.path for f in second.files]
    assert all(f.mode & 0o400 for f in files), [oct(f.mode) for f in files]


def test_reports_are_plain_classes_with_repr_and_to_dict(configs, vault):
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    r = vault.backup(configs, "workflows/react.yaml", session="s1", created_at=when)
    d = r.to_dict()
    assert d["session"]["id"] == "s1" and d["session"]["created_at"] == when
    assert d["files"][0] == vars(r.files[0])
    assert repr(r.session).startswith("Session(id='s1', created_at=datetime.datetime(2026, 1, 2")
    assert vault.session("s1") == r.session
    assert cfgvault.deps(configs, "workflows/react.yaml").to_dict()["files"] == [
        {"path": f.path, "kind": f.kind} for f in r.files
    ]


def test_deps_reports_the_closure_without_a_store(corpus):
    root = corpus / "snap-0021" / "configs"
    d = cfgvault.deps(root, "workflows/react.yaml")
    kinds = {f.path: f.kind for f in d.files}
    assert kinds["workflows/react.yaml"] == "workflow"
    assert kinds["llms/provider/openai/common.yaml"] == "llm"
    assert kinds["global.yaml"] == "global"
    assert any(e.target == "llms/provider/openai/common.yaml" for e in d.edges)
    minimal = cfgvault.deps(root, "workflows/react.yaml", strategy="minimal")
    assert [f.path for f in minimal.files] == ["workflows/react.yaml"]


def test_deps_reports_a_dangling_reference_instead_of_raising(tmp_path):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "w.yaml").write_text(
        "nodes:\n  a:\n    config:\n      llm_client: nowhere\n"
    )
    d = cfgvault.deps(tmp_path, "workflows/w.yaml")
    assert [f.path for f in d.files] == ["workflows/w.yaml"]
    assert [(u.source, u.value) for u in d.unresolved] == [("workflows/w.yaml", "nowhere")]
