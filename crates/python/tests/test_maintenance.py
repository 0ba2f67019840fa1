"""Retention, gc and verify through Python."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cfgvault


def test_cleanup_gc_verify(configs, vault):
    now = datetime.now(timezone.utc)
    for days in (30, 20, 10, 0):
        (configs / "global.yaml").write_text(f"age_days: {days}\n")
        vault.backup(
            configs, "workflows/react.yaml", session=f"d{days}", created_at=now - timedelta(days=days)
        )
    before = vault.stats()
    assert before.sessions == 4

    plan = vault.cleanup(older_than=timedelta(days=15), dry_run=True)
    assert plan.dry_run and plan.removed == ["d20", "d30"] and plan.kept == ["d0", "d10"]
    assert plan.objects_freed > 0
    assert len(vault.sessions()) == 4, "a dry run removed sessions"

    done = vault.cleanup(older_than=timedelta(days=15))
    assert not done.dry_run and done.removed == plan.removed
    assert [s.id for s in vault.sessions()] == ["d0", "d10"]
    assert vault.stats().sessions == 2

    kept = vault.cleanup(keep_last=1)
    assert kept.removed == ["d10"]
    assert vault.versions("global.yaml")[0].sessions == 1

    g = vault.gc()
    assert g.file_bytes_after <= g.file_bytes_before
    checked = vault.verify()
    assert checked.ok and checked.problems == [] and checked.objects_checked > 0
    assert vault.read_file("d0", "global.yaml") == b"age_days: 0\n"
    after = vault.stats()
    assert after.sessions == 1 and after.overall_ratio > 0


def test_delete_and_progress_of_verify(configs, vault):
    a = vault.backup(configs, "workflows/react.yaml", session="a")
    vault.backup(configs, "workflows/react.yaml", session="b")
    vault.delete([a.session, "b"])
    assert vault.sessions() == []
    seen = []
    vault.verify(progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert seen, "verify never called progress"
    assert all(isinstance(p, str) and isinstance(d, int) for p, d, _ in seen)


def test_pins_keep_sessions_from_cleanup(configs, vault):
    now = datetime.now(timezone.utc)
    for days in (3, 2, 1):
        vault.backup(
            configs, "workflows/react.yaml", session=f"d{days}", created_at=now - timedelta(days=days)
        )
    vault.pin("d3")
    assert vault.session("d3").pinned and not vault.session("d2").pinned
    plan = vault.cleanup(keep_last=1, dry_run=True)
    assert plan.removed == ["d2"] and set(plan.kept) == {"d1", "d3"}
    vault.cleanup(keep_last=1)
    assert [s.id for s in vault.sessions()] == ["d1", "d3"]

    vault.unpin(vault.session("d3"))
    assert not vault.session("d3").pinned
    assert vault.cleanup(keep_last=1).removed == ["d3"]
    assert [s.id for s in vault.sessions()] == ["d1"]


def test_labels_are_set_updated_and_listed_by(configs, vault):
    vault.backup(configs, "workflows/react.yaml", session="a", labels={"user": "ada"})
    vault.backup(configs, "workflows/react.yaml", session="b")
    assert vault.session("a").labels == {"user": "ada"}
    vault.set_labels("b", {"user": "bob", "team": "x"})
    assert vault.update_labels("b", {"team": None, "env": "dev"}) == {"user": "bob", "env": "dev"}
    assert vault.session("b").labels == {"user": "bob", "env": "dev"}
    assert [s.id for s in vault.sessions(label=("user", "bob"))] == ["b"]
    assert vault.resolve_session("b") == "b"
